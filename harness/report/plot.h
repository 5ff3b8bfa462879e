/* plot.h — the figures of a run, rendered by gnuplot from the checked-in scripts in plots/ (one .gp
 * file per figure type); used by `attnbench plot` and by `attnbench report --format html --figures
 * DIR`. */
#ifndef ATTN_PLOT_H
#define ATTN_PLOT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sqlite3 sqlite3;

enum { PLOT_MAX_FIGURES = 10 };

/* What to draw. */
typedef struct plot_request {
    int64_t run;          /* run id (> 0) */
    const char *baseline; /* variant speedups are measured against; NULL: the run's baseline */
    int seq;              /* S of the stage-breakdown and history figures; 0: the largest with an ok point */
    const char *out_dir;  /* created when absent */
    /* Filled by plot_check: */
    char baseline_name[64]; /* the baseline variant; "" when the run has none */
    char gnuplot[4096];     /* gnuplot executable */
    char scripts[4096];     /* directory of the figure scripts, ending in '/' */
} plot_request;

/* A figure written: out_dir/name.png and out_dir/name.svg. */
typedef struct plot_figure {
    char name[64];
    char title[96];
} plot_figure;

/* Checks the request before anything is written: gnuplot on PATH (else a message naming the Debian
 * package), the scripts found (next to the binary: ../plots, else ./plots), the baseline variant and
 * S present in the run; fills the fields after out_dir and a default seq; last, creates out_dir
 * (mkdir -p) and checks it can be written. ATTN_SKIP with attn_last_error.msg for bad input (the
 * caller exits 2); ATTN_ERR for a database failure. */
int plot_check(sqlite3 *db, plot_request *r);

/* Renders every figure that applies to a checked request; prints one line per figure written or
 * skipped (and why) to `notes`. ATTN_ERR when gnuplot or the database fails. */
int plot_render(sqlite3 *db, const plot_request *r, FILE *notes, plot_figure *figs, int *n_figs);

#endif
