# accuracy.gp — accuracy against speed (a Pareto view for approximate variants): per panel (head
# dim, causal flag) each variant's ok points at speedup over the baseline (x, log) and relative L2
# error against exact attention (y, log), an approximate variant's points labelled with their S. `attnbench plot` runs
#   gnuplot -c accuracy.gp DATA OUT TITLE YLABEL OPTIONS PANELS SERIES
# DATA  CSV with header panel,series,speedup,error,label,head_dim,causal; other arguments as lines.gp
DATA = ARG1; OUT = ARG2; TITLE = ARG3; YLABEL = ARG4; OPTIONS = ARG5; PANELS = ARG6; SERIES = ARG7
scriptdir(p) = strstrt(p, "/") == 0 ? "" : p[1:strstrt(p, "/")] . scriptdir(p[strstrt(p, "/") + 1:])
load scriptdir(ARG0) . "common.gp"

set logscale x 2
set logscale y
set format x "%g"
set format y "%.0e"
set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05
set xlabel "speedup over the baseline (×, baseline median / variant median)"
set ylabel YLABEL
set key top right
set arrow 1 from 1, graph 0 to 1, graph 1 nohead dt 2 lw 1.5 lc rgb "#333333" front

do for [FMT in "png svg"] {
    eval begin_figure(FMT, OUT)
    do for [p = 1:NPANELS] {
        P = word(PANELS, p)
        set title P font ",11"
        plot for [s = 1:words(SERIES)] DATA using (strcol(1) eq P && strcol(2) eq label(word(SERIES, s)) ? $3 : NaN):4 \
                 with points ls style(word(SERIES, s)) title label(word(SERIES, s)), \
             for [s = 1:words(SERIES)] DATA using (strcol(1) eq P && strcol(2) eq label(word(SERIES, s)) ? $3 : NaN):4:5 \
                 with labels offset 0, 0.8 font ",7" tc ls style(word(SERIES, s)) notitle
    }
    eval end_figure
}
