# stages.gp — where each series' GPU time goes at one S: per panel (head dim, causal flag) a bar per
# series, stacked by kernel as shares of the forward pass's GPU span (to 100 %; the largest kernel at
# the bottom, the span's idle part in grey on top), each segment of 8 % or more labelled with its
# share, and the median span in ms written above each bar; each panel's kernels in a key to its right.
# `attnbench plot` runs
#   gnuplot -c stages.gp DATA OUT TITLE YLABEL OPTIONS PANELS SERIES KERNELS
# DATA     CSV with header panel,kernel,x,ylow,y,colour,top,span_ms,head_dim,causal: a kernel's
#          segment [ylow, y] (%) in the bar at x (the series' position in SERIES); colour its number
#          in the panel (0: idle); top 1 on a bar's last segment
# SERIES   double-quoted series labels (the bars, left to right)
# KERNELS  double-quoted "PANEL|COLOUR|KERNEL" words: the key of each panel
DATA = ARG1; OUT = ARG2; TITLE = ARG3; YLABEL = ARG4; OPTIONS = ARG5; PANELS = ARG6; SERIES = ARG7
KERNELS = ARG8
kpanel(w) = w[1:strstrt(w, "|") - 1]
krest(w) = w[strstrt(w, "|") + 1:]
kcol(w) = int(substr(krest(w), 1, strstrt(krest(w), "|") - 1))
kname(w) = substr(krest(w), strstrt(krest(w), "|") + 1, strlen(krest(w)))
PAL = "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #17becf #bcbd22 #393b79 #aec7e8 #ffbb78 #98df8a #ff9896 #c5b0d5 #c49c94 #f7b6d2 #9edae5 #dbdb8d #7f7f7f"
kcolour(c) = c == 0 ? "#d0d0d0" : word(PAL, (c - 1) % 20 + 1)
# Bars as tic labels over lines: "lowrank k=64 proj=mean" → three lines.
lines_(s) = strstrt(s, " ") == 0 ? s : s[1:strstrt(s, " ") - 1] . "\n" . lines_(s[strstrt(s, " ") + 1:])
# Panels wide enough for the bars and the key beside them; no shared key.
KLEN = 0
do for [k_ = 1:words(KERNELS)] { KLEN = strlen(kname(word(KERNELS, k_))) > KLEN ? strlen(kname(word(KERNELS, k_))) : KLEN }
KEY_SHARED = 0
PANEL_W = 140 + 95 * words(SERIES) + 6.2 * KLEN + 70
PANEL_H = 460
scriptdir(p) = strstrt(p, "/") == 0 ? "" : p[1:strstrt(p, "/")] . scriptdir(p[strstrt(p, "/") + 1:])
load scriptdir(ARG0) . "common.gp"

XT = ""
do for [s = 1:words(SERIES)] { XT = XT . sprintf("%s\"%s\" %d", s > 1 ? ", " : "", lines_(word(SERIES, s)), s) }
AXES = sprintf("set xrange [0.4 : %g]; set xtics (%s) scale 0; set grid noxtics nomxtics ytics; set yrange [0:112]; set ytics 0, 20, 100; set mytics 2; set ylabel YLABEL; set key outside right top vertical Left reverse font ',8' samplen 1.5 spacing 1.05; set style fill solid 0.9 border lc rgb 'white'; set bmargin 4.5", words(SERIES) + 0.6, XT)

do for [FMT in "png svg"] {
    eval begin_figure(FMT, OUT)
    do for [p = 1:NPANELS] {
        P = word(PANELS, p)
        eval panel(p)
        set title P font ",11"
        plot for [k = 1:words(KERNELS)] DATA \
             using (strcol(1) eq P && kpanel(word(KERNELS, k)) eq P && $6 == kcol(word(KERNELS, k)) ? $3 : NaN):(($4 + $5) / 2):($3 - 0.36):($3 + 0.36):4:5 \
             with boxxyerror lc rgb kcolour(kcol(word(KERNELS, k))) title (kpanel(word(KERNELS, k)) eq P ? kname(word(KERNELS, k)) : ""), \
             DATA using (strcol(1) eq P && $5 - $4 >= 8 ? $3 : NaN):(($4 + $5) / 2):(sprintf("%.0f%%", $5 - $4)) \
             with labels font ",8" tc rgb "#222222" notitle, \
             DATA using (strcol(1) eq P && $7 == 1 ? $3 : NaN):5:(sprintf("%.3g ms", $8)) \
             with labels offset 0, 0.8 font ",9" tc rgb "#000000" notitle
    }
    eval end_figure
}
