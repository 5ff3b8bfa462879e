# common.gp — the shared look of the attnbench figures, loaded by every figure script after it has
# set PANELS (double-quoted panel labels), SERIES and TITLE: colours and line styles, grid, the
# layout (a grid of panels sized from their number, the figure title above, one shared key below the
# panels so that no key covers data) and the two terminals. Each figure script draws its panels twice:
#   do for [FMT in "png svg"] {
#       eval begin_figure(FMT, OUT)
#       do for [p = 1:NPANELS] { eval panel(p); ... one plot ... }
#       eval end_figure
#   }
# Optional, set before loading: KEY_EXTRA (key entries beyond SERIES, e.g. a reference line) and
# KEY_EXTRA_LEN (their longest title); PANEL_W, PANEL_H (pixels per panel); KEY_SHARED = 0 when the
# script draws its own keys (then no key strip is reserved).

set datafile separator comma
set termoption noenhanced

# Ten colours (a series keeps its colour in every figure of a run); markers cycle with the colour,
# filled for a series' first dtype and open for its second (see series_style).
set linetype 1 lc rgb "#1f77b4" lw 2 pt 7 ps 0.9
set linetype 2 lc rgb "#d62728" lw 2 pt 5 ps 0.9
set linetype 3 lc rgb "#2ca02c" lw 2 pt 9 ps 1.1
set linetype 4 lc rgb "#ff7f0e" lw 2 pt 11 ps 1.1
set linetype 5 lc rgb "#9467bd" lw 2 pt 13 ps 1.1
set linetype 6 lc rgb "#8c564b" lw 2 pt 15 ps 1.0
set linetype 7 lc rgb "#e377c2" lw 2 pt 7 ps 0.9
set linetype 8 lc rgb "#17becf" lw 2 pt 5 ps 0.9
set linetype 9 lc rgb "#7f7f7f" lw 2 pt 9 ps 1.1
set linetype 10 lc rgb "#bcbd22" lw 2 pt 11 ps 1.1
set linetype cycle 10

# The look of a panel, set again for every panel (the key strip below the panels changes it).
STYLE = "set autoscale; unset logscale; set xtics autofreq; set ytics autofreq; set grid xtics ytics mxtics mytics lc rgb '#dddddd' lw 1, lc rgb '#f0f0f0' lw 1; set border 3 lc rgb '#555555'; set tics nomirror out; set key box lc rgb '#bbbbbb' opaque samplen 2.5 spacing 1.1 font ',9' Left reverse"
eval STYLE

# A SERIES word is "COLOUR:KIND:LABEL": COLOUR the series' colour (its variant and parameters, fixed
# across all figures of a run), KIND its dtype's rank in the run (1: solid line, filled markers;
# 2: dashed, open markers; 3: dotted, ...), LABEL as in the data's series column.
colour(w) = int(w[1:strstrt(w, ":") - 1])
rest_(w) = w[strstrt(w, ":") + 1:]
kind(w) = int(substr(rest_(w), 1, strstrt(rest_(w), ":") - 1))
label(w) = substr(rest_(w), strstrt(rest_(w), ":") + 1, strlen(rest_(w)))
FILLED = "7 5 9 11 13 15 7 5 9 11"
marker(w) = int(word(FILLED, (colour(w) - 1) % 10 + 1)) - (kind(w) > 1 ? 1 : 0)
dash(w) = kind(w) == 1 ? 1 : kind(w) == 2 ? 2 : kind(w) == 3 ? 3 : 4
# Series s's colour, dash and marker: ... with linespoints lc lc_(s) dt dt_(s) pt pt_(s)
lc_(s) = colour(word(SERIES, s))
dt_(s) = dash(word(SERIES, s))
pt_(s) = marker(word(SERIES, s))

# 1 when the word w is in the space-separated list s.
has(s, w) = strstrt(" ".s." ", " ".w." ") > 0

# Layout: two panels per row (one when there is one), PANEL_W × PANEL_H pixels per panel, the title
# strip above and the key strip below, the canvas sized from the number of panels and key rows.
NPANELS = words(PANELS)
FIG_COLS = NPANELS > 1 ? 2 : 1
FIG_ROWS = (NPANELS + FIG_COLS - 1) / FIG_COLS
PANEL_W = exists("PANEL_W") ? PANEL_W : FIG_COLS == 1 ? 760 : 620
PANEL_H = exists("PANEL_H") ? PANEL_H : 420
KEY_SHARED = exists("KEY_SHARED") ? KEY_SHARED : 1
KEY_EXTRA = exists("KEY_EXTRA") ? KEY_EXTRA : 0
KEY_LEN = exists("KEY_EXTRA_LEN") ? KEY_EXTRA_LEN : 0
do for [s_ = 1:words(SERIES)] { KEY_LEN = strlen(label(word(SERIES, s_))) > KEY_LEN ? strlen(label(word(SERIES, s_))) : KEY_LEN }
KEY_N = words(SERIES) + KEY_EXTRA
FIG_W = PANEL_W * FIG_COLS
KEY_ENTRY_W = 9.3 * KEY_LEN + 40  # as gnuplot estimates an entry's width
KEY_COLS = int((FIG_W - 40) / KEY_ENTRY_W)
KEY_COLS = KEY_COLS < 1 ? 1 : KEY_COLS > KEY_N ? KEY_N : KEY_COLS
KEY_ROWS = (KEY_N + KEY_COLS - 1) / KEY_COLS
KEY_PX = KEY_SHARED ? 17 * (KEY_ROWS + 1) + 16 : 0
# A title too long for the canvas breaks before the run's description.
TITLE_PX = 40
if (strlen(TITLE) * 10.0 > FIG_W && strstrt(TITLE, " — ") > 0) {  # ~10 px a character at 13 pt
    TITLE = TITLE[1:strstrt(TITLE, " — ") - 1] . "\n" . TITLE[strstrt(TITLE, " — ") + strlen(" — "):]
    TITLE_PX = 62
}
FIG_H = TITLE_PX + PANEL_H * FIG_ROWS + KEY_PX

# S axis: log 2, one tic per power of two.
set_seq_axis = "set logscale x 2; set xtics 1, 2 format '%.0f' rotate by 30 right; set mxtics 1; set offsets graph 0.03, graph 0.03, 0, 0; set xlabel 'sequence length S (tokens, log scale)'"

begin_figure(fmt, out) = sprintf("set terminal %s noenhanced size %d,%d font 'DejaVu Sans,10' background rgb 'white'; set output '%s.%s'; set multiplot title TITLE font ',13'", fmt eq "png" ? "pngcairo" : "svg dynamic", FIG_W, FIG_H, out, fmt)
end_figure = "unset multiplot; set output"

# Panel p: its place on the canvas, the common look, then the script's AXES (a string of set
# commands) and no key: the key is drawn once, in the strip below all panels, where it covers no data.
panel_x(p) = ((p - 1) % FIG_COLS) * 1.0 / FIG_COLS
panel_y(p) = (KEY_PX + (FIG_ROWS - 1 - (p - 1) / FIG_COLS) * PANEL_H) * 1.0 / FIG_H
panel(p) = sprintf("set origin %g, %g; set size %g, %g; %s; %s; %s", panel_x(p), panel_y(p), 1.0 / FIG_COLS, PANEL_H * 1.0 / FIG_H, STYLE, AXES, KEY_SHARED ? "set key off" : "")
# The key strip: full width below the panels, no axes; the script then plots its series as NaN
# (key entries only).
begin_key = sprintf("set origin 0, 0; set size 1, %g; unset border; unset tics; unset grid; unset title; unset xlabel; unset ylabel; unset logscale; unset arrow; unset label; set xrange [0:1]; set yrange [0:1]; set key horizontal maxcols %d at graph 0.5, graph 0.5 center center", KEY_PX * 1.0 / FIG_H, KEY_COLS)
