/* query.c — the store's reads (see store.h): the newest run, and any query printed as an aligned
 * table (`attnbench show`). */
#include "store/store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "store/sql.h"

int store_latest_run(sqlite3 *db, int64_t *run_id)
{
    return store_query_int64(db, "SELECT coalesce(max(id), 0) FROM runs", run_id);
}

/* Text of a cell as shown in a table: reals with 4 significant digits, NULL as "-". */
static void cell_text(sqlite3_stmt *st, int c, char *buf, size_t n)
{
    switch (sqlite3_column_type(st, c)) {
    case SQLITE_NULL: snprintf(buf, n, "-"); break;
    case SQLITE_FLOAT: {
        double x = sqlite3_column_double(st, c);
        if (x != 0 && (fabs(x) < 1e-3 || fabs(x) >= 1e7)) snprintf(buf, n, "%.3e", x);
        else snprintf(buf, n, "%.4g", x);
        break;
    }
    default: snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, c));
    }
}

/* The rows of a prepared statement as text cells (CELL bytes each, row-major) and the width of each
 * column. ATTN_OK, or ATTN_ERR (out of memory, or the statement's failure). */
enum { CELL = 48 };
static int read_cells(sqlite3 *db, sqlite3_stmt *st, int nc, char (**cells)[CELL], int *width,
                      int *n_rows)
{
    int rows = 0, cap = 64, rc;
    *cells = malloc((size_t)cap * nc * CELL);
    if (!*cells) return attn_fail("out of host memory printing a table");
    for (int c = 0; c < nc; c++) width[c] = (int)strlen(sqlite3_column_name(st, c));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows == cap) {
            void *more = realloc(*cells, (size_t)(cap *= 2) * nc * CELL);
            if (!more) return attn_fail("out of host memory printing a table");
            *cells = more;
        }
        for (int c = 0; c < nc; c++) {
            char *cell = (*cells)[(size_t)rows * nc + c];
            cell_text(st, c, cell, CELL);
            int w = (int)strlen(cell);
            if (w > width[c]) width[c] = w;
        }
        rows++;
    }
    SQLITE_CHECK(db, rc);
    *n_rows = rows;
    return ATTN_OK;
}

int store_print_table(sqlite3 *db, const char *sql, int arg_bound, int64_t arg, FILE *out,
                      int *n_rows)
{
    sqlite3_stmt *st;
    SQLITE_CHECK(db, sqlite3_prepare_v2(db, sql, -1, &st, NULL));
    int rc = ATTN_OK, rows = 0, nc = sqlite3_column_count(st);
    char(*cells)[CELL] = NULL;
    int *width = calloc((size_t)nc + 1, sizeof *width);
    if (!width) rc = attn_fail("out of host memory printing a table");
    if (rc == ATTN_OK && arg_bound) SQLITE_CHECK_GOTO(db, sqlite3_bind_int64(st, 1, arg), rc, end);
    if (rc == ATTN_OK) rc = read_cells(db, st, nc, &cells, width, &rows);
    if (rc != ATTN_OK) goto end;
    for (int c = 0; c < nc; c++)
        fprintf(out, "%-*s%s", width[c], sqlite3_column_name(st, c), c + 1 < nc ? "  " : "\n");
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < nc; c++)
            fprintf(out, "%*s%s", width[c], cells[(size_t)r * nc + c], c + 1 < nc ? "  " : "\n");
    if (n_rows) *n_rows = rows;
end:
    free(cells);
    free(width);
    sqlite3_finalize(st);
    return rc;
}
