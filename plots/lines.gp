# lines.gp — one measure per variant against sequence length (latency, TFLOP/s, speedup, memory):
# a panel per head dim and causal flag, a line per series, log-2 S axis, one key below the panels.
# `attnbench plot` runs
#   gnuplot -c lines.gp DATA OUT TITLE YLABEL OPTIONS PANELS SERIES
# DATA     CSV with header panel,series,S,y,ref,flag; a NaN y leaves a gap in the line
# OUT      output path without extension: writes OUT.png and OUT.svg
# OPTIONS  words: logy (log y axis), one (a dashed line at y = 1, labelled "baseline"),
#          ref (column 5 as a dotted grey line per series: the measured compute ceiling),
#          flag (a red "!" above each point whose column 6 is 1: above the ceiling),
#          autolog (logy when y spans more than 50×). The key lists only what is drawn.
# PANELS   double-quoted panel labels (DATA's column 1)
# SERIES   double-quoted "COLOUR:KIND:LABEL" words, LABEL as in DATA's column 2 (see common.gp)
DATA = ARG1; OUT = ARG2; TITLE = ARG3; YLABEL = ARG4; OPTIONS = ARG5; PANELS = ARG6; SERIES = ARG7
ONE_T = "baseline (= 1)"
REF_T = "measured compute ceiling"
FLAG_T = "above the ceiling (a wrong FLOP count or timing)"
has_(s, w) = strstrt(" ".s." ", " ".w." ") > 0
KEY_EXTRA = has_(OPTIONS, "one") + has_(OPTIONS, "ref") + has_(OPTIONS, "flag")
KEY_EXTRA_LEN = has_(OPTIONS, "flag") ? strlen(FLAG_T) : has_(OPTIONS, "ref") ? strlen(REF_T) : has_(OPTIONS, "one") ? strlen(ONE_T) : 0
scriptdir(p) = strstrt(p, "/") == 0 ? "" : p[1:strstrt(p, "/")] . scriptdir(p[strstrt(p, "/") + 1:])
load scriptdir(ARG0) . "common.gp"

# autolog: a log y axis when the values span more than 50× (approximate variants' dense-equivalent
# TFLOP/s far above every exact variant's).
if (has(OPTIONS, "autolog")) { stats DATA using 4 nooutput; if (STATS_min > 0 && STATS_max / STATS_min > 50) { OPTIONS = OPTIONS . " logy" } }
AXES = set_seq_axis . "; set ylabel YLABEL; " . (has(OPTIONS, "logy") ? "set logscale y; set format y '%g'" : "unset logscale y; set yrange [0:*]") . (has(OPTIONS, "flag") ? "; set offsets graph 0.03, graph 0.03, graph 0.12, 0" : "")
ONE = has(OPTIONS, "one") ? ", 1 with lines dt 2 lw 1.5 lc rgb '#333333' title ONE_T" : ""
ONE_KEY = has(OPTIONS, "one") ? ", NaN with lines dt 2 lw 1.5 lc rgb '#333333' title ONE_T" : ""
# The ceiling of each series' dtype, drawn per series (series of one dtype draw the same line), so
# the line never jumps between dtypes.
REF = has(OPTIONS, "ref") ? ", for [s = 1:words(SERIES)] DATA using (strcol(1) eq P && strcol(2) eq label(word(SERIES, s)) ? $3 : NaN):5 with lines dt 3 lw 1.5 lc rgb '#555555' notitle" : ""
REF_KEY = has(OPTIONS, "ref") ? ", NaN with lines dt 3 lw 1.5 lc rgb '#555555' title REF_T" : ""
FLAG = has(OPTIONS, "flag") ? ", DATA using (strcol(1) eq P && $6 == 1 ? $3 : NaN):4:(\"!\") with labels offset 0, 1.1 font ',14' tc rgb '#d62728' notitle" : ""
FLAG_KEY = has(OPTIONS, "flag") ? ", NaN with points pt '!' ps 1.5 lc rgb '#d62728' title FLAG_T" : ""

do for [FMT in "png svg"] {
    eval begin_figure(FMT, OUT)
    do for [p = 1:NPANELS] {
        P = word(PANELS, p)
        eval panel(p)
        set title P font ",11"
        plot for [s = 1:words(SERIES)] DATA using (strcol(1) eq P && strcol(2) eq label(word(SERIES, s)) ? $3 : NaN):4 \
             with linespoints lc lc_(s) dt dt_(s) pt pt_(s) lw 2 ps 1 notitle @REF @FLAG @ONE
    }
    eval begin_key
    plot for [s = 1:words(SERIES)] NaN with linespoints lc lc_(s) dt dt_(s) pt pt_(s) lw 2 ps 1 \
         title label(word(SERIES, s)) @REF_KEY @FLAG_KEY @ONE_KEY
    eval end_figure
}
