# lines.gp — one measure per variant against sequence length (latency, TFLOP/s, speedup, memory):
# a panel per head dim and causal flag, a line per variant, log-2 S axis. `attnbench plot` runs
#   gnuplot -c lines.gp DATA OUT TITLE YLABEL OPTIONS PANELS SERIES
# DATA     CSV with header panel,series,S,y[,ref]; a NaN y leaves a gap in the line
# OUT      output path without extension: writes OUT.png and OUT.svg
# OPTIONS  words: logy (log y axis), one (a dashed line at y = 1, labelled "baseline"),
#          ref (column 5 as a dashed line: the measured compute ceiling), keybr (key bottom right)
# PANELS   double-quoted panel labels (DATA's column 1)
# SERIES   double-quoted "STYLE:LABEL" words, LABEL as in DATA's column 2 (see common.gp)
DATA = ARG1; OUT = ARG2; TITLE = ARG3; YLABEL = ARG4; OPTIONS = ARG5; PANELS = ARG6; SERIES = ARG7
scriptdir(p) = strstrt(p, "/") == 0 ? "" : p[1:strstrt(p, "/")] . scriptdir(p[strstrt(p, "/") + 1:])
load scriptdir(ARG0) . "common.gp"

eval set_seq_axis
set ylabel YLABEL
if (has(OPTIONS, "logy")) { set logscale y; set format y "%g" } else { set yrange [0:*] }
if (has(OPTIONS, "keybr")) { set key bottom right } else { set key top left }
ONE = has(OPTIONS, "one") ? ", 1 with lines dt 2 lw 1.5 lc rgb '#333333' title 'baseline (1.0)'" : ""
REF = has(OPTIONS, "ref") ? ", DATA using (strcol(1) eq P ? $3 : NaN):5 with lines dt 3 lw 2 lc rgb '#555555' title 'measured compute ceiling'" : ""

do for [FMT in "png svg"] {
    eval begin_figure(FMT, OUT)
    do for [p = 1:NPANELS] {
        P = word(PANELS, p)
        set title P font ",11"
        plot for [s = 1:words(SERIES)] DATA using (strcol(1) eq P && strcol(2) eq label(word(SERIES, s)) ? $3 : NaN):4 \
             with linespoints ls style(word(SERIES, s)) title label(word(SERIES, s)) @ONE @REF
    }
    eval end_figure
}
