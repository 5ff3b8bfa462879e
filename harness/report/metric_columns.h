/* metric_columns.h — a run's rows of the metrics table (point_id, name, value, unit: the quality
 * values variants report and hardware counters) as one column per metric name beside a query
 * that has one row per point, for report and export. The names come from the database, not from
 * this code: each is bound as a parameter of its column's subquery and reaches the SQL text only
 * as a quoted column name. Limits: METRIC_COLUMNS_MAX names per run. */
#ifndef ATTN_METRIC_COLUMNS_H
#define ATTN_METRIC_COLUMNS_H

#include <stdint.h>

#include "report/table.h"

enum { METRIC_COLUMNS_MAX = 100 };

typedef struct metric_columns {
    int n;             /* metric names in the run, in order of first appearance; 0: none */
    char *sql;         /* ", (SELECT ...) AS \"label\"" per name, to follow a select list; "" */
    table_bind *binds; /* ?1 the run, ?2.. the names: n + 1 binds for table_write */
    char **names;      /* the names the binds point to */
} metric_columns;

/* Builds the columns of the run's metric names into mc (free with metric_columns_free, also after a
 * failure). point: the SQL expression of the outer row's point id ("s.point_id"); value: the cell
 * over the metrics row m ("m.value", "printf('%.4g', m.value)"; a NULL value is a NULL cell);
 * with_unit: labels "name (unit)" instead of "name". A name that is also a column of the summary
 * view is labelled "metric:name", so no column name repeats. ATTN_OK or ATTN_ERR. */
int metric_columns_load(sqlite3 *db, int64_t run, const char *point, const char *value,
                        int with_unit, metric_columns *mc);
void metric_columns_free(metric_columns *mc);

#endif
