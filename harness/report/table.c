/* table.c — printers for query results (see table.h). Tuned for small outputs: a run's summary or a
 * figure's data file, a few thousand rows at most, streamed row by row. */
#include "report/table.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int prepare(sqlite3 *db, const char *sql, const table_bind *binds, int n_binds,
                   sqlite3_stmt **st)
{
    SQLITE_CHECK(db, sqlite3_prepare_v2(db, sql, -1, st, NULL));
    int n_params = sqlite3_bind_parameter_count(*st), rc = ATTN_OK;
    for (int i = 0; i < n_binds && i < n_params; i++)
        SQLITE_CHECK_GOTO(db, binds[i].text
                                  ? sqlite3_bind_text(*st, i + 1, binds[i].text, -1, SQLITE_TRANSIENT)
                                  : sqlite3_bind_int64(*st, i + 1, binds[i].num),
                          rc, fail);
    return ATTN_OK;
fail:
    sqlite3_finalize(*st);
    *st = NULL;
    return rc;
}

int table_format_named(const char *name, table_format *fmt)
{
    static const char *const names[] = {"csv", "json", "md", "html"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (name && strcmp(name, names[i]) == 0) {
            *fmt = (table_format)i;
            return 0;
        }
    return -1;
}

int table_has_column(sqlite3 *db, const char *table, const char *column, int *exists)
{
    table_bind b[] = {{table, 0}, {column, 0}};
    int64_t v;
    return table_int(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", b, 2, &v, exists);
}

void table_sql_identifier(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void table_html_escape(FILE *out, const char *s)
{
    for (; *s; s++) switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out);
        }
}

static void csv_text(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void json_text(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') fprintf(out, "\\%c", *c);
        else if (*c == '\n') fputs("\\n", out);
        else if (*c == '\t') fputs("\\t", out);
        else if (*c < 0x20) fprintf(out, "\\u%04x", *c);
        else fputc(*c, out);
    }
    fputc('"', out);
}

/* Markdown cell: '|' escaped, line breaks flattened to spaces. */
static void md_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", out);
        else if (*s == '\n' || *s == '\r') fputc(' ', out);
        else fputc(*s, out);
    }
}

/* One cell as text; NULL or non-finite → NULL. buf holds formatted numbers. */
static const char *cell(sqlite3_stmt *st, int c, char *buf, size_t n)
{
    switch (sqlite3_column_type(st, c)) {
    case SQLITE_NULL: return NULL;
    case SQLITE_INTEGER: snprintf(buf, n, "%lld", (long long)sqlite3_column_int64(st, c)); return buf;
    case SQLITE_FLOAT: {
        double x = sqlite3_column_double(st, c);
        if (!isfinite(x)) return NULL;
        snprintf(buf, n, "%.15g", x);
        return buf;
    }
    default: return (const char *)sqlite3_column_text(st, c);
    }
}

static void write_value(FILE *out, table_format fmt, const char *s, int numeric,
                        const char *null_text)
{
    if (fmt == TABLE_JSON) {
        if (!s) fputs("null", out);
        else if (numeric) fputs(s, out);
        else json_text(out, s);
        return;
    }
    if (!s) s = null_text;
    if (fmt == TABLE_CSV) csv_text(out, s);
    else if (fmt == TABLE_MD) md_text(out, s);
    else table_html_escape(out, s);
}

/* The header row (column names) or the current data row of st. */
static void write_row(FILE *out, table_format fmt, sqlite3_stmt *st, int nc, int header, int first,
                      const char *null_text)
{
    static const char *const open[] = {"", "  {", "|", "<tr>"};
    static const char *const sep[] = {",", ", ", "|", ""};
    static const char *const close[] = {"\n", "}", "|\n", "</tr>\n"};
    if (fmt == TABLE_JSON) fputs(first ? "[\n" : ",\n", out);
    fputs(open[fmt], out);
    for (int c = 0; c < nc; c++) {
        if (c) fputs(sep[fmt], out);
        const char *name = sqlite3_column_name(st, c);
        if (fmt == TABLE_MD) fputc(' ', out);
        if (fmt == TABLE_HTML) fputs(header ? "<th>" : "<td>", out);
        if (fmt == TABLE_JSON) {
            json_text(out, name);
            fputs(": ", out);
        }
        if (header) {
            write_value(out, fmt, name, 0, null_text);
        } else {
            char buf[64];
            int type = sqlite3_column_type(st, c);
            write_value(out, fmt, cell(st, c, buf, sizeof buf),
                        type == SQLITE_INTEGER || type == SQLITE_FLOAT, null_text);
        }
        if (fmt == TABLE_MD) fputc(' ', out);
        if (fmt == TABLE_HTML) fputs(header ? "</th>" : "</td>", out);
    }
    fputs(close[fmt], out);
    if (header && fmt == TABLE_MD) {
        for (int c = 0; c < nc; c++) fputs("|---", out);
        fputs("|\n", out);
    }
}

/* ---------------------------------------------------------------- TEXT: aligned columns */

/* A cell of the text table (allocated): reals with 4 significant digits, NULL and non-finite
 * numbers as null_text, control characters escaped ("\n", "\t", "\r", others '?'). */
static char *text_cell(sqlite3_stmt *st, int c, const char *null_text)
{
    char num[64];
    const char *s = num;
    double x;
    switch (sqlite3_column_type(st, c)) {
    case SQLITE_NULL: s = null_text; break;
    case SQLITE_INTEGER: snprintf(num, sizeof num, "%lld", (long long)sqlite3_column_int64(st, c)); break;
    case SQLITE_FLOAT:
        x = sqlite3_column_double(st, c);
        if (!isfinite(x)) s = null_text;
        else if (x != 0 && (fabs(x) < 1e-3 || fabs(x) >= 1e7)) snprintf(num, sizeof num, "%.3e", x);
        else snprintf(num, sizeof num, "%.4g", x);
        break;
    default: s = (const char *)sqlite3_column_text(st, c);
    }
    char *cell = malloc(2 * strlen(s) + 1), *o = cell;
    for (; cell && *s; s++) {
        const char *esc = *s == '\n' ? "\\n" : *s == '\t' ? "\\t" : *s == '\r' ? "\\r" : NULL;
        if (esc) *o++ = esc[0], *o++ = esc[1];
        else *o++ = (unsigned char)*s < 0x20 ? '?' : *s;
    }
    if (cell) *o = 0;
    return cell;
}

/* Display width of UTF-8 text: its characters (continuation bytes not counted). */
static int text_width(const char *s)
{
    int w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* One row of the text table: cells padded to their column's width, right-aligned where `right`;
 * blanks are written only before a cell that follows them, so no line ends in blanks. */
static void text_row(FILE *out, char *const *cells, int nc, const int *width, const int *right)
{
    int blanks = 0;
    for (int c = 0; c < nc; c++) {
        int pad = width[c] - text_width(cells[c]);
        if (right[c]) blanks += pad;
        if (*cells[c]) {
            fprintf(out, "%*s%s", blanks, "", cells[c]);
            blanks = 0;
        }
        blanks += (right[c] ? 0 : pad) + 2;
    }
    fputc('\n', out);
}

/* Steps st to the end holding every cell (the header row first), then prints the table. */
static int write_text(sqlite3 *db, sqlite3_stmt *st, int nc, const char *null_text, FILE *out,
                      int *n_rows)
{
    size_t cap = 64 * (size_t)nc, n = 0;
    char **cells = malloc(cap * sizeof *cells);
    /* right[c]: 0 once a text cell is seen, 1 while only numbers and NULLs, 2 before any number */
    int *width = calloc((size_t)nc, sizeof *width), *right = malloc((size_t)nc * sizeof *right);
    int rc = ATTN_OK, step = SQLITE_DONE;
    if (!cells || !width || !right) {
        rc = attn_fail("out of host memory");
        goto end;
    }
    for (int c = 0; c < nc; c++) right[c] = 2;
    for (int c = 0; c < nc; c++) cells[n++] = strdup(sqlite3_column_name(st, c));
    while (rc == ATTN_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        char **more = n + (size_t)nc > cap ? realloc(cells, (cap *= 2) * sizeof *cells) : cells;
        if (!more) {
            rc = attn_fail("out of host memory");
            break;
        }
        cells = more;
        for (int c = 0; c < nc; c++) {
            int type = sqlite3_column_type(st, c);
            if (type == SQLITE_INTEGER || type == SQLITE_FLOAT) right[c] = right[c] != 0;
            else if (type != SQLITE_NULL) right[c] = 0;
            cells[n++] = text_cell(st, c, null_text);
        }
    }
    if (rc == ATTN_OK) SQLITE_CHECK_GOTO(db, step, rc, end);
    for (size_t i = 0; rc == ATTN_OK && i < n; i++) {
        if (!cells[i]) rc = attn_fail("out of host memory");
        else if (text_width(cells[i]) > width[i % (size_t)nc]) width[i % (size_t)nc] = text_width(cells[i]);
    }
    for (int c = 0; c < nc; c++) right[c] = right[c] == 1; /* all-NULL columns: left */
    for (size_t r = 0; rc == ATTN_OK && r < n; r += (size_t)nc) text_row(out, cells + r, nc, width, right);
    if (rc == ATTN_OK && n_rows) *n_rows = (int)(n / (size_t)nc) - 1;
end:
    for (size_t i = 0; cells && i < n; i++) free(cells[i]);
    free(cells);
    free(width);
    free(right);
    return rc;
}

int table_write(sqlite3 *db, const char *sql, const table_bind *binds, int n_binds,
                table_format fmt, const char *null_text, FILE *out, int *n_rows)
{
    sqlite3_stmt *st;
    ATTN_TRY(prepare(db, sql, binds, n_binds, &st));
    int nc = sqlite3_column_count(st), rows = 0, rc;
    if (fmt == TABLE_TEXT) {
        rc = write_text(db, st, nc, null_text, out, n_rows);
        sqlite3_finalize(st);
        return rc;
    }
    if (fmt == TABLE_HTML) fputs("<table>\n", out);
    if (fmt != TABLE_JSON) write_row(out, fmt, st, nc, 1, 1, null_text);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) write_row(out, fmt, st, nc, 0, rows++ == 0, null_text);
    if (fmt == TABLE_HTML) fputs("</table>\n", out);
    if (fmt == TABLE_JSON) fputs(rows ? "\n]\n" : "[]\n", out);
    sqlite3_finalize(st);
    SQLITE_CHECK(db, rc);
    if (n_rows) *n_rows = rows;
    return ATTN_OK;
}

int table_words(sqlite3 *db, const char *sql, const table_bind *binds, int n_binds, char *buf,
                size_t size, int *n_words)
{
    sqlite3_stmt *st;
    ATTN_TRY(prepare(db, sql, binds, n_binds, &st));
    size_t len = 0;
    int n = 0, rc;
    buf[0] = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *w = (const char *)sqlite3_column_text(st, 0);
        size_t wl = w ? strlen(w) : 0;
        if (len + wl + 4 > size) {
            sqlite3_finalize(st);
            return attn_fail("more labels than fit in %zu bytes", size);
        }
        len += (size_t)snprintf(buf + len, size - len, "%s\"%s\"", n ? " " : "", w ? w : "");
        for (char *c = buf + len - wl - 1; c < buf + len - 1; c++)
            if (*c == '"') *c = '\'';
        n++;
    }
    sqlite3_finalize(st);
    SQLITE_CHECK(db, rc);
    *n_words = n;
    return ATTN_OK;
}

int table_text(sqlite3 *db, const char *sql, const table_bind *binds, int n_binds, char *buf,
               size_t size, int *found)
{
    sqlite3_stmt *st;
    ATTN_TRY(prepare(db, sql, binds, n_binds, &st));
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
    snprintf(buf, size, "%s", *found ? (const char *)sqlite3_column_text(st, 0) : "");
    sqlite3_finalize(st);
    SQLITE_CHECK(db, rc);
    return ATTN_OK;
}

int table_int(sqlite3 *db, const char *sql, const table_bind *binds, int n_binds, int64_t *value,
              int *found)
{
    char buf[32];
    ATTN_TRY(table_text(db, sql, binds, n_binds, buf, sizeof buf, found));
    if (*found) *value = strtoll(buf, NULL, 10);
    return ATTN_OK;
}
