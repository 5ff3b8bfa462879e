# stages.gp — where each variant's time goes at one S: per panel (head dim, causal flag) a bar per
# variant, stacked by kernel (median time per forward pass, the largest stage at the bottom).
# `attnbench plot` runs
#   gnuplot -c stages.gp DATA OUT TITLE YLABEL OPTIONS PANELS SERIES KERNELS
# DATA     CSV with header panel,kernel,x,ylow,y,head_dim,causal: kernel's segment [ylow, y] in the
#          bar at x (x = position of the variant in SERIES)
# SERIES   double-quoted variant labels (the bars, left to right); KERNELS double-quoted kernel names
DATA = ARG1; OUT = ARG2; TITLE = ARG3; YLABEL = ARG4; OPTIONS = ARG5; PANELS = ARG6; SERIES = ARG7
KERNELS = ARG8
scriptdir(p) = strstrt(p, "/") == 0 ? "" : p[1:strstrt(p, "/")] . scriptdir(p[strstrt(p, "/") + 1:])
load scriptdir(ARG0) . "common.gp"

set xrange [0.4 : words(SERIES) + 0.6]
set xtics () scale 0
do for [s = 1:words(SERIES)] { set xtics add (word(SERIES, s) s) }
set grid noxtics nomxtics
set yrange [0:*]
set ylabel YLABEL
set key top left
set style fill solid 0.85 border lc rgb "white"
short(k) = strlen(k) > 48 ? k[1:45] . "..." : k

do for [FMT in "png svg"] {
    eval begin_figure(FMT, OUT)
    do for [p = 1:NPANELS] {
        P = word(PANELS, p)
        set title P font ",11"
        plot for [k = 1:words(KERNELS)] DATA \
             using (strcol(1) eq P && strcol(2) eq word(KERNELS, k) ? $3 : NaN):(($4 + $5) / 2):($3 - 0.35):($3 + 0.35):4:5 \
             with boxxyerror lc k title short(word(KERNELS, k))
    }
    eval end_figure
}
