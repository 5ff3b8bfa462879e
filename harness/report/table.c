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

int table_write(sqlite3 *db, const char *sql, const table_bind *binds, int n_binds,
                table_format fmt, const char *null_text, FILE *out, int *n_rows)
{
    sqlite3_stmt *st;
    ATTN_TRY(prepare(db, sql, binds, n_binds, &st));
    int nc = sqlite3_column_count(st), rows = 0, rc;
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
