#!/usr/bin/env bash
# Draws bench/scale.png (exporter CPU and RSS against the number of connectors,
# from the marker-scale results) and bench/detection.png (detection latency
# against the stall's phase in the marker schedule). Needs gnuplot (Debian
# package gnuplot-nox; used only here) and python3.
#   bench/plot.sh [RESULTS_DIR]   (default bench/results)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
res=${1:-$here/results}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$res" "$tmp" <<'PY'
import json, os, sys
res, tmp = sys.argv[1], sys.argv[2]
def load(name):
    p = os.path.join(res, name)
    return json.load(open(p)) if os.path.exists(p) else None
for name, out in (("marker_scale.json", "scale.dat"),
                  ("marker_scale_norest.json", "scale_norest.dat")):
    d = load(name)
    with open(os.path.join(tmp, out), "w") as f:
        for r in (d or {}).get("runs", []):
            f.write("%d %.3f %.2f %.2f\n" % (
                max(1, r["connectors"]), r["cpu_percent"],
                r["rss_max_bytes"] / 1e6, r["rss_mean_bytes"] / 1e6))
for name, out in (("detection-5s-10s.json", "det5.dat"),
                  ("detection-10s-30s.json", "det10.dat")):
    d = load(name)
    with open(os.path.join(tmp, out), "w") as f:
        for s in (d or {}).get("stalls", []):
            if s.get("latency_s") is not None and s.get("phase_s") is not None:
                f.write("%.3f %.3f\n" % (s["phase_s"], s["latency_s"]))
PY
nonempty() { [ -s "$1" ]; }
if nonempty "$tmp/scale.dat"; then
  extra_cpu="" extra_rss=""
  if nonempty "$tmp/scale_norest.dat"; then
    extra_cpu=", '$tmp/scale_norest.dat' using 1:2 with linespoints lw 2 pt 6 title 'CPU, no REST (MSK Connect style)'"
    extra_rss=", '$tmp/scale_norest.dat' using 1:3 with linespoints lw 2 pt 6 title 'RSS max, no REST'"
  fi
  gnuplot <<EOT
set terminal pngcairo size 1100,450 font ",10"
set output '$here/scale.png'
set multiplot layout 1,2 title "cdc-sentinel vs number of connectors (markers every 10 s, one Kafka cluster, one source)"
set logscale x
set xlabel "connectors watched (simulated, + 2 real)"
set grid
set key top left opaque box
set ylabel "CPU, % of one core"
plot '$tmp/scale.dat' using 1:2 with linespoints lw 2 pt 7 title 'CPU (with Connect REST)'$extra_cpu, 10 with lines dt 2 lc rgb "red" title 'target at 200: 10 %'
set ylabel "RSS, MB"
plot '$tmp/scale.dat' using 1:3 with linespoints lw 2 pt 7 title 'RSS max', '$tmp/scale.dat' using 1:4 with linespoints lw 1 pt 5 title 'RSS mean'$extra_rss, 150 with lines dt 2 lc rgb "red" title 'target at 200: 150 MB'
unset multiplot
EOT
  echo "wrote $here/scale.png"
fi
if nonempty "$tmp/det5.dat" || nonempty "$tmp/det10.dat"; then
  gnuplot <<EOT
set terminal pngcairo size 800,450 font ",10"
set output '$here/detection.png'
set title "Detection latency vs when the stall began (phase after the last marker write)"
set xlabel "phase of the stall in the marker schedule, s"
set ylabel "detection latency, s"
set grid
set key outside right
set xrange [0:10]
set yrange [0:45]
plot '$tmp/det5.dat' using 1:2 with points pt 7 title 'interval 5 s, timeout 10 s', \
     (x < 5 ? 15 - x : 1/0) with lines dt 2 lc rgb "blue" title '5+10 - phase', \
     16 with lines dt 3 lc rgb "blue" title 'bound 5+10+1', \
     '$tmp/det10.dat' using 1:2 with points pt 5 title 'interval 10 s, timeout 30 s', \
     40 - x with lines dt 2 lc rgb "red" title '10+30 - phase', \
     41 with lines dt 3 lc rgb "red" title 'bound 10+30+1'
EOT
  echo "wrote $here/detection.png"
fi
