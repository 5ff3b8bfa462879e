/* progress.c — the progress line (see progress.h). */
#include "run/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "measure/measure.h"

void run_progress_start(run_progress *pr, int quiet, int total)
{
    pr->quiet = quiet || !isatty(STDERR_FILENO);
    pr->done = 0;
    pr->total = total;
    pr->t0 = attn_now();
}

void run_progress_show(const run_progress *pr, const char *variant, const attn_point *p)
{
    if (pr->quiet) return;
    char shape_text[160], eta[32] = "";
    double el = attn_now() - pr->t0;
    if (pr->done > 0) {
        int s = (int)(el / pr->done * (pr->total - pr->done));
        snprintf(eta, sizeof eta, " ETA %dm%02ds", s / 60, s % 60);
    }
    fprintf(stderr, "\r\033[K[%d/%d] %s %s%s", pr->done + 1, pr->total, variant,
            attn_point_format(p, shape_text, sizeof shape_text), eta);
    fflush(stderr);
}

void run_progress_clear(const run_progress *pr)
{
    if (!pr->quiet) fputs("\r\033[K", stderr);
}
