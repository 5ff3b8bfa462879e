# accuracy.gp — accuracy against speed (a Pareto view for approximate variants): per panel (head
# dim, causal flag) each series' ok points at speedup over the baseline (x, log) and relative L2
# error against exact attention (y, log), one point per S. Points are not joined (speedup and error
# need not grow with S, so a line would zig-zag); the marker grows with S and each approximate
# point is labelled with its S. Markers are open, so that points at the same place (the baseline's
# on its own line, two series of equal error) all stay visible, and every panel has the same axes,
# so panels compare at a glance. `attnbench plot` runs
#   gnuplot -c accuracy.gp DATA OUT TITLE YLABEL OPTIONS PANELS SERIES
# DATA  CSV with header panel,series,speedup,error,label,size,head_dim,causal; other arguments as
#       lines.gp
DATA = ARG1; OUT = ARG2; TITLE = ARG3; YLABEL = ARG4; OPTIONS = ARG5; PANELS = ARG6; SERIES = ARG7
ONE_T = "baseline speed (1)"
KEY_EXTRA = 1
KEY_EXTRA_LEN = strlen(ONE_T)
scriptdir(p) = strstrt(p, "/") == 0 ? "" : p[1:strstrt(p, "/")] . scriptdir(p[strstrt(p, "/") + 1:])
load scriptdir(ARG0) . "common.gp"

# One range for every panel: all points and the baseline's x = 1, with a margin (log scales).
stats DATA using 3 nooutput
X_LO = (STATS_min < 1 ? STATS_min : 1) / 1.3
X_HI = (STATS_max > 1 ? STATS_max : 1) * 1.3
stats DATA using 4 nooutput
Y_LO = STATS_min / 2.5
Y_HI = STATS_max * 2.5
# Open markers: common.gp's filled marker of each series, one lower (its open form).
open_(s) = pt_(s) % 2 == 1 ? pt_(s) - 1 : pt_(s)

XL = "speedup over the baseline (baseline median / variant median, log scale)\none point per S: larger markers for longer S; approximate variants labelled with S"
AXES = sprintf("set logscale x 2; set logscale y; set xrange [%g : %g]; set yrange [%g : %g]; set format x '%%g'; set format y '%%.0e'; set xlabel XL; set ylabel YLABEL; set arrow 1 from 1, graph 0 to 1, graph 1 nohead dt 2 lw 1.5 lc rgb '#333333' back", X_LO, X_HI, Y_LO, Y_HI)

do for [FMT in "png svg"] {
    eval begin_figure(FMT, OUT)
    do for [p = 1:NPANELS] {
        P = word(PANELS, p)
        eval panel(p)
        set title P font ",11"
        plot for [s = 1:words(SERIES)] DATA using (strcol(1) eq P && strcol(2) eq label(word(SERIES, s)) ? $3 : NaN):4:6 \
                 with points lc lc_(s) pt open_(s) lw 1.5 ps variable notitle, \
             for [s = 1:words(SERIES)] DATA using (strcol(1) eq P && strcol(2) eq label(word(SERIES, s)) ? $3 : NaN):4:5 \
                 with labels left offset 1.2, 0.6 font ",8" tc lt lc_(s) notitle
    }
    eval begin_key
    plot for [s = 1:words(SERIES)] NaN with points lc lc_(s) pt open_(s) lw 1.5 ps 1.2 \
         title label(word(SERIES, s)), NaN with lines dt 2 lw 1.5 lc rgb '#333333' title ONE_T
    eval end_figure
}
