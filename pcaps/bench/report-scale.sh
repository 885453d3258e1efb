#!/usr/bin/env bash
# Measures `ompscope report` on the capture issue 16 names
# (`synth -s scale --edges 2000 --routes 1000000`): the time and peak
# memory to write the report, its size, and, opened in Debian's chromium
# headless (BenchmarkReportOpen, chromedp), when its plot is drawn and its
# tables shown, in milliseconds from the start of navigation, with the
# page's own marks (script start, data read, history decoded, ...).
# docs/report.md reports the figures.
# Usage: pcaps/bench/report-scale.sh [WORKDIR]   (default: a temporary
# folder; give one to keep the 220 MB capture between runs)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x /usr/bin/chromium ] || { echo "chromium is not installed (apt-get install chromium)"; exit 1; }
. pcaps/bench/lib.sh
bench_init "${1:-}"
/usr/bin/chromium --version 2>/dev/null | head -1
cap=$work/scale.pcapng
if [ ! -s "$cap" ]; then
  "$bin" synth -s scale --edges 2000 --routes 1000000 -o "$work" >/dev/null
fi
/usr/bin/time -f "%e %U %S %M" -o "$work/t" "$bin" report -r "$cap" -o "$work/scale.html"
read -r wall u s kb < "$work/t"
printf 'report: %s s wall, %s CPU-s, %d MB peak, page %d bytes\n' "$wall" "$(echo "$u + $s" | bc -l)" $((kb / 1024)) "$(stat -c %s "$work/scale.html")"
/usr/bin/time -f "%e %U %S %M" -o "$work/t" "$bin" analyze -r "$cap" -T json > /dev/null
read -r wall u s kb < "$work/t"
printf 'analyze alone: %s s wall, %s CPU-s, %d MB peak\n' "$wall" "$(echo "$u + $s" | bc -l)" $((kb / 1024))
OMPSCOPE_REPORT=$work/scale.html go test ./cmd/ompscope -run '^$' -bench BenchmarkReportOpen -benchtime 3x -count 1 -v |
  grep -E 'Benchmark|milliseconds'
