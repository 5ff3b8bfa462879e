# tradeoff.gp — one measure against another, a line per series through its points in x order: the
# figures of a knob swept within one series (block-sparse attention's kept-tile density: speedup
# against density, error against speedup). A panel per head dim and causal flag, one key below.
# `attnbench plot` runs
#   gnuplot -c tradeoff.gp DATA OUT TITLE YLABEL OPTIONS PANELS SERIES
# DATA     CSV with header panel,series,x,y,ref,head_dim,causal; a NaN ref draws no reference
# OPTIONS  words: logx, logy (log axes); xdensity or xspeedup (the x axis label); ref (column 5 as a
#          dotted grey line per series, titled "ideal: 1 / density")
# PANELS, SERIES as for lines.gp
DATA = ARG1; OUT = ARG2; TITLE = ARG3; YLABEL = ARG4; OPTIONS = ARG5; PANELS = ARG6; SERIES = ARG7
REF_T = "ideal: 1 / density"
KEY_EXTRA = strstrt(" ".OPTIONS." ", " ref ") > 0
KEY_EXTRA_LEN = strlen(REF_T)
scriptdir(p) = strstrt(p, "/") == 0 ? "" : p[1:strstrt(p, "/")] . scriptdir(p[strstrt(p, "/") + 1:])
load scriptdir(ARG0) . "common.gp"

XL = has(OPTIONS, "xdensity") ? "achieved density (kept / visible key tiles)" : "speedup over the baseline (baseline median / variant median)"
AXES = "set xlabel XL; set ylabel YLABEL" . (has(OPTIONS, "logx") ? "; set logscale x 2; set format x '%g'" : "; set xrange [0:*]") . (has(OPTIONS, "logy") ? "; set logscale y; set format y '%g'" : "; set yrange [0:*]") . "; set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05"
REF = has(OPTIONS, "ref") ? ", for [s = 1:words(SERIES)] DATA using (strcol(1) eq P && strcol(2) eq label(word(SERIES, s)) ? $3 : NaN):5 with lines dt 3 lw 1.5 lc rgb '#555555' notitle" : ""
REF_KEY = has(OPTIONS, "ref") ? ", NaN with lines dt 3 lw 1.5 lc rgb '#555555' title REF_T" : ""

do for [FMT in "png svg"] {
    eval begin_figure(FMT, OUT)
    do for [p = 1:NPANELS] {
        P = word(PANELS, p)
        eval panel(p)
        set title P font ",11"
        plot for [s = 1:words(SERIES)] DATA using (strcol(1) eq P && strcol(2) eq label(word(SERIES, s)) ? $3 : NaN):4 \
             with linespoints lc lc_(s) dt dt_(s) pt pt_(s) lw 2 ps 1 notitle @REF
    }
    eval begin_key
    plot for [s = 1:words(SERIES)] NaN with linespoints lc lc_(s) dt dt_(s) pt pt_(s) lw 2 ps 1 \
         title label(word(SERIES, s)) @REF_KEY
    eval end_figure
}
