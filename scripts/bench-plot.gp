# bench-plot.gp - start latency box plot from the table bench-stats.py writes.
# gnuplot -e "dat='plot.dat'; out='docs/bench-start-latency.png'; subtitle='...'; tools=4" scripts/bench-plot.gp
# Columns of dat: index tool median q1 q3 min max, in milliseconds.
# Box: first to third quartile; bar across it: the median (also written above);
# whiskers: fastest and slowest run.

if (!exists("subtitle")) subtitle = ""
if (!exists("tools")) tools = 4

set terminal pngcairo size 900,560 font "DejaVu Sans,11"
set output out
set title "Start latency of /bin/true in a new container (warm)\n{/*0.8 ".subtitle."}"
set ylabel "milliseconds (lower is better)"
set grid ytics lc rgb "#dddddd"
set border 3
set tics nomirror
set xtics noenhanced
set key off
set label 1 "box: quartiles   bar: median   whiskers: min and max" at graph 0.99, graph 0.98 right font ",9" tc rgb "#555555"
set xrange [-0.6:tools-0.4]
set yrange [0:*]
# Room above the tallest whisker for its label.
set offsets 0, 0, graph 0.1, 0
set boxwidth 0.45
set style fill solid 0.35 border -1

plot dat using 1:4:6:7:5:xtic(2) with candlesticks whiskerbars 0.5 lc rgb "#3b6ea8" lw 1.5, \
     dat using 1:3:3:3:3 with candlesticks lc rgb "#000000" lw 2.5, \
     dat using 1:7:(sprintf("%.1f ms", $3)) with labels offset 0,1 font ",11"
