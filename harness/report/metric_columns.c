/* metric_columns.c — one column per metric name (see metric_columns.h). The SQL text grows in a
 * memory stream: a few hundred bytes per name. */
#include "report/metric_columns.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* One column: the subquery with the name bound to ?param, and its label. */
static int add_column(metric_columns *mc, FILE *sql, sqlite3_stmt *st, const char *point,
                      const char *value, int with_unit)
{
    if (mc->n == METRIC_COLUMNS_MAX)
        return attn_fail("more than %d metric names in one run", METRIC_COLUMNS_MAX);
    const char *name = (const char *)sqlite3_column_text(st, 0);
    const char *unit = (const char *)sqlite3_column_text(st, 1);
    int clashes = sqlite3_column_int(st, 2);
    if (!(mc->names[mc->n] = strdup(name ? name : ""))) return attn_fail("out of host memory");
    mc->binds[mc->n + 1] = (table_bind){mc->names[mc->n], 0};
    mc->n++;
    fprintf(sql, ", (SELECT %s FROM metrics m WHERE m.point_id = %s AND m.name = ?%d AND"
                 " m.value IS NOT NULL) AS ", value, point, mc->n + 1);
    char label[512];
    snprintf(label, sizeof label, "%s%s%s%s%s", clashes ? "metric:" : "", mc->names[mc->n - 1],
             with_unit && unit && *unit ? " (" : "", with_unit && unit ? unit : "",
             with_unit && unit && *unit ? ")" : "");
    table_sql_identifier(sql, label);
    return ATTN_OK;
}

/* The columns from the run's names (statement st, bound); the SQL text into sql. */
static int add_columns(sqlite3 *db, metric_columns *mc, FILE *sql, sqlite3_stmt *st,
                       const char *point, const char *value, int with_unit)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ATTN_TRY(add_column(mc, sql, st, point, value, with_unit));
    SQLITE_CHECK(db, rc);
    return ATTN_OK;
}

int metric_columns_load(sqlite3 *db, int64_t run, const char *point, const char *value,
                        int with_unit, metric_columns *mc)
{
    memset(mc, 0, sizeof *mc);
    size_t size = 0;
    sqlite3_stmt *st = NULL;
    FILE *sql = open_memstream(&mc->sql, &size);
    mc->binds = calloc(METRIC_COLUMNS_MAX + 1, sizeof *mc->binds);
    mc->names = calloc(METRIC_COLUMNS_MAX, sizeof *mc->names);
    if (!sql || !mc->binds || !mc->names) {
        if (sql) fclose(sql);
        return attn_fail("out of host memory");
    }
    mc->binds[0] = (table_bind){NULL, run};
    int rc = ATTN_OK;
    SQLITE_CHECK_GOTO(db, sqlite3_prepare_v2(db,
        "SELECT m.name, min(m.unit), m.name IN (SELECT name FROM pragma_table_info('summary'))"
        " FROM metrics m JOIN points p ON p.id = m.point_id WHERE p.run_id = ?1"
        " GROUP BY m.name ORDER BY min(m.rowid)", -1, &st, NULL), rc, end);
    SQLITE_CHECK_GOTO(db, sqlite3_bind_int64(st, 1, run), rc, end);
    rc = add_columns(db, mc, sql, st, point, value, with_unit);
end:
    sqlite3_finalize(st);
    if (fclose(sql) != 0 && rc == ATTN_OK) rc = attn_fail("out of host memory");
    return rc;
}

void metric_columns_free(metric_columns *mc)
{
    for (int i = 0; mc->names && i < mc->n; i++) free(mc->names[i]);
    free(mc->names);
    free(mc->binds);
    free(mc->sql);
    memset(mc, 0, sizeof *mc);
}
