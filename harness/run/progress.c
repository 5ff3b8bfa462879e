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

/* " ETA 1m02s" from the rate so far, "" before the first point. */
static void eta(const run_progress *pr, char *buf, size_t n)
{
    buf[0] = 0;
    if (pr->done <= 0) return;
    int s = (int)((attn_now() - pr->t0) / pr->done * (pr->total - pr->done));
    snprintf(buf, n, " ETA %dm%02ds", s / 60, s % 60);
}

void run_progress_show(const run_progress *pr, const char *variant, const attn_point *p)
{
    if (pr->quiet) return;
    char shape_text[160], left[32];
    eta(pr, left, sizeof left);
    fprintf(stderr, "\r\033[K[%d/%d] %s %s%s", pr->done + 1, pr->total, variant,
            attn_point_format(p, shape_text, sizeof shape_text), left);
    fflush(stderr);
}

void run_progress_workers(const run_progress *pr, int running)
{
    if (pr->quiet) return;
    char left[32];
    eta(pr, left, sizeof left);
    fprintf(stderr, "\r\033[K[%d/%d done] %d worker%s running%s", pr->done, pr->total, running,
            running == 1 ? "" : "s", left);
    fflush(stderr);
}

void run_progress_clear(const run_progress *pr)
{
    if (!pr->quiet) fputs("\r\033[K", stderr);
}
