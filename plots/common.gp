# common.gp — the shared look of the attnbench figures, loaded by every figure script after it has
# set PANELS (double-quoted panel labels) and TITLE: colours and line styles, grid, multiplot layout and size,
# and the two terminals. Each figure script draws its panels twice:
#   do for [FMT in "png svg"] { eval begin_figure(FMT, OUT); ... one plot per panel ...; eval end_figure }

set datafile separator comma
set termoption noenhanced

set linetype 1 lc rgb "#1f77b4" lw 2 pt 7 ps 0.9
set linetype 2 lc rgb "#d62728" lw 2 pt 5 ps 0.9
set linetype 3 lc rgb "#2ca02c" lw 2 pt 9 ps 1.1
set linetype 4 lc rgb "#ff7f0e" lw 2 pt 11 ps 1.1
set linetype 5 lc rgb "#9467bd" lw 2 pt 13 ps 1.1
set linetype 6 lc rgb "#8c564b" lw 2 pt 15 ps 1.0
set linetype 7 lc rgb "#e377c2" lw 2 pt 4 ps 0.9
set linetype 8 lc rgb "#17becf" lw 2 pt 6 ps 0.9
set linetype cycle 8

set grid xtics ytics mxtics mytics lc rgb "#dddddd" lw 1, lc rgb "#f0f0f0" lw 1
set border 3 lc rgb "#555555"
set tics nomirror out
set key box lc rgb "#bbbbbb" opaque samplen 2 spacing 1.1 font ",9" Left reverse

# Two panels per row; 620 × 440 pixels per panel.
NPANELS = words(PANELS)
FIG_COLS = NPANELS > 1 ? 2 : 1
FIG_ROWS = (NPANELS + 1) / FIG_COLS
FIG_W = 620 * FIG_COLS
FIG_H = 440 * FIG_ROWS + 50

# S axis: log 2, one tic per power of two.
set_seq_axis = "set logscale x 2; set xtics 1, 2 format '%.0f' rotate by 30 right; set mxtics 1; set offsets graph 0.03, graph 0.03, 0, 0; set xlabel 'sequence length S (tokens)'"

begin_figure(fmt, out) = sprintf("set terminal %s noenhanced size %d,%d font 'DejaVu Sans,10' background rgb 'white'; set output '%s.%s'; set multiplot layout %d,%d title '%s' font ',13'", fmt eq "png" ? "pngcairo" : "svg dynamic", FIG_W, FIG_H, out, fmt, FIG_ROWS, FIG_COLS, TITLE)
end_figure = "unset multiplot; set output"

# A SERIES word is "STYLE:LABEL": the series' line style (fixed across all figures of a run, so a
# variant keeps its colour) and its label (as in the data's series column).
style(w) = int(w[1:strstrt(w, ":") - 1])
label(w) = w[strstrt(w, ":") + 1:]

# 1 when the word w is in the space-separated list s.
has(s, w) = strstrt(" ".s." ", " ".w." ") > 0
