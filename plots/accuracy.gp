# accuracy.gp — accuracy against speed (a Pareto view for approximate variants): per panel (head
# dim, causal flag) each series' ok points at speedup over the baseline (x, log) and relative L2
# error against exact attention (y, log), one point per S joined in order of S (no per-point labels:
# they would pile up). `attnbench plot` runs
#   gnuplot -c accuracy.gp DATA OUT TITLE YLABEL OPTIONS PANELS SERIES
# DATA  CSV with header panel,series,speedup,error,label,head_dim,causal; other arguments as lines.gp
DATA = ARG1; OUT = ARG2; TITLE = ARG3; YLABEL = ARG4; OPTIONS = ARG5; PANELS = ARG6; SERIES = ARG7
ONE_T = "baseline speed (1)"
KEY_EXTRA = 1
KEY_EXTRA_LEN = strlen(ONE_T)
scriptdir(p) = strstrt(p, "/") == 0 ? "" : p[1:strstrt(p, "/")] . scriptdir(p[strstrt(p, "/") + 1:])
load scriptdir(ARG0) . "common.gp"

XL = "speedup over the baseline (baseline median / variant median, log scale)\none point per S, joined in order of S"
AXES = "set logscale x 2; set logscale y; set format x '%g'; set format y '%.0e'; set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05; set xlabel XL; set ylabel YLABEL; set arrow 1 from 1, graph 0 to 1, graph 1 nohead dt 2 lw 1.5 lc rgb '#333333' front"

do for [FMT in "png svg"] {
    eval begin_figure(FMT, OUT)
    do for [p = 1:NPANELS] {
        P = word(PANELS, p)
        eval panel(p)
        set title P font ",11"
        plot for [s = 1:words(SERIES)] DATA using (strcol(1) eq P && strcol(2) eq label(word(SERIES, s)) ? $3 : NaN):4 \
                 with linespoints lc lc_(s) dt dt_(s) pt pt_(s) lw 1 ps 1.1 notitle
    }
    eval begin_key
    plot for [s = 1:words(SERIES)] NaN with linespoints lc lc_(s) dt dt_(s) pt pt_(s) lw 1 ps 1.1 \
         title label(word(SERIES, s)), NaN with lines dt 2 lw 1.5 lc rgb '#333333' title ONE_T
    eval end_figure
}
