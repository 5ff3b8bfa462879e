/* table.h — printers for query results: the rows of one SQL query as CSV, JSON, a Markdown table,
 * an HTML table or an aligned text table for a terminal. Printers only format: the caller chooses
 * the query (and formats numbers in SQL where it wants fixed precision); every figure's data file
 * and every report and show table go through here. Only bound parameters reach SQL. */
#ifndef ATTN_TABLE_H
#define ATTN_TABLE_H

#include <stdint.h>
#include <stdio.h>

typedef struct sqlite3 sqlite3;

typedef enum table_format { TABLE_CSV, TABLE_JSON, TABLE_MD, TABLE_HTML, TABLE_TEXT } table_format;

/* One bound parameter: text when `text` is non-NULL, else the integer `num`. */
typedef struct table_bind {
    const char *text;
    int64_t num;
} table_bind;

/* Runs `sql` with binds[i] bound to ?(i+1) (binds past the statement's last parameter are left
 * out, so one bind array serves a family of queries) and prints its rows to `out` with a header row:
 *   CSV   RFC 4180 quoting; NULL (and NaN) as `null_text` ("" for tools, "NaN" for gnuplot gaps);
 *   JSON  one array of objects, NULL and non-finite numbers as null (null_text unused);
 *   MD    a pipe table, '|' escaped, NULL as null_text;
 *   HTML  a <table> with <th> headers, text escaped, NULL as null_text;
 *   TEXT  columns two spaces apart, as wide as their widest cell (in UTF-8 characters): numbers
 *         right-aligned (reals with 4 significant digits), text left-aligned and whole, control
 *         characters escaped ("\n") so that no value breaks its row, NULL as null_text. The rows
 *         are held in memory until the last one (for the widths): for terminal-sized results.
 * Rows printed in *n_rows (may be NULL). ATTN_OK or ATTN_ERR (attn_last_error says why). */
int table_write(sqlite3 *db, const char *sql, const table_bind *binds, int n_binds,
                table_format fmt, const char *null_text, FILE *out, int *n_rows);

/* Runs `sql` (binds as above) and writes column 0 of each row into buf as a list of double-quoted
 * words for gnuplot's word()/words() (double quotes inside a value become single quotes). Fails when
 * the list does not fit. Words in *n_words. */
int table_words(sqlite3 *db, const char *sql, const table_bind *binds, int n_binds, char *buf,
                size_t size, int *n_words);

/* Runs `sql` (binds as above) and stores the first column of its first row as text in buf
 * (truncated to size) or as an integer in *value; *found is 0 when there is no row or it is NULL. */
int table_text(sqlite3 *db, const char *sql, const table_bind *binds, int n_binds, char *buf,
               size_t size, int *found);
int table_int(sqlite3 *db, const char *sql, const table_bind *binds, int n_binds, int64_t *value,
              int *found);

/* The format named "csv", "json", "md" or "html" into *fmt: 0, or -1 for any other name (TEXT has
 * no name: it is show's). */
int table_format_named(const char *name, table_format *fmt);

/* *exists = 1 when `table` (or view) has `column` (older schemas lack some). */
int table_has_column(sqlite3 *db, const char *table, const char *column, int *exists);

/* Writes s as an SQL identifier (a column label): in double quotes, a double quote doubled. Names
 * from the database reach SQL text only this way. */
void table_sql_identifier(FILE *out, const char *s);

/* Writes s escaped for HTML text and attribute values (& < > " '). */
void table_html_escape(FILE *out, const char *s);

#endif
