# history.gp — one key over runs: per panel (head dim, causal flag) each series' median latency at
# one S in every run with the same tag on the same GPU, with its p10..p90 band (the noise a nightly
# gate must see through); log y, so fast and slow variants both show their trend. `attnbench plot` runs
#   gnuplot -c history.gp DATA OUT TITLE YLABEL OPTIONS PANELS SERIES
# DATA  CSV with header panel,series,run,median,p10,p90,head_dim,causal; a NaN median (no ok point
#       in that run) leaves a gap. Other arguments as lines.gp.
DATA = ARG1; OUT = ARG2; TITLE = ARG3; YLABEL = ARG4; OPTIONS = ARG5; PANELS = ARG6; SERIES = ARG7
scriptdir(p) = strstrt(p, "/") == 0 ? "" : p[1:strstrt(p, "/")] . scriptdir(p[strstrt(p, "/") + 1:])
load scriptdir(ARG0) . "common.gp"

stats DATA using 3 nooutput
AXES = sprintf("set xrange [%g : %g]; set xtics %d format '%%.0f'; set mxtics 1; set xlabel 'run id'; set ylabel YLABEL; set logscale y; set format y '%%g'", STATS_min - 0.5, STATS_max + 0.5, ceil((STATS_max - STATS_min + 1) / 12.0))

do for [FMT in "png svg"] {
    eval begin_figure(FMT, OUT)
    do for [p = 1:NPANELS] {
        P = word(PANELS, p)
        eval panel(p)
        set title P font ",11"
        plot for [s = 1:words(SERIES)] DATA using (strcol(1) eq P && strcol(2) eq label(word(SERIES, s)) ? $3 : NaN):5:6 \
                 with filledcurves fs transparent solid 0.18 noborder lc lc_(s) notitle, \
             for [s = 1:words(SERIES)] DATA using (strcol(1) eq P && strcol(2) eq label(word(SERIES, s)) ? $3 : NaN):4 \
                 with linespoints lc lc_(s) dt dt_(s) pt pt_(s) lw 2 ps 1 notitle
    }
    eval begin_key
    plot for [s = 1:words(SERIES)] NaN with linespoints lc lc_(s) dt dt_(s) pt pt_(s) lw 2 ps 1 \
         title label(word(SERIES, s))
    eval end_figure
}
