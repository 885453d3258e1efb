#!/usr/bin/env bash
# Measures `ompscope analyze` end to end (read, decrypt, decode, analyze with
# every detector, JSON summary) on the captures issue 11 names, as
# docs/performance.md reports:
#   1. the churning capture (`synth -s churn`: steady live tables of about
#      50 000 route paths, fresh path-ids, withdrawals, TLOC flaps,
#      reflection) captured 1x, 2x, 4x, 8x as long (15 min .. 2 h): route
#      events per CPU-second, the time ratio against the event ratio
#      (linearity), peak RSS (flat when memory follows the live tables);
#      and the 8x capture again with --timeline written to a file;
#   2. the 2 000-edge, 1 000 000-route scale capture (`synth -s scale`).
# Time is user + system CPU, memory the peak RSS, both from GNU time; the
# analyzer runs on one core (-j 1), as the issue's figures are per core.
# Usage: pcaps/bench/analyze-scale.sh [WORKDIR]   (default: a temporary
# folder; give one to keep the captures between runs: about 1.5 GB)
# Set SKIP_SCALE=1 to leave out the 2 000-edge capture (it takes minutes).
set -euo pipefail
cd "$(dirname "$0")/../.."
. pcaps/bench/lib.sh
bench_init "${1:-}"

param() { grep -o "\"$2\": *[0-9]*" "$1" | head -1 | grep -o '[0-9]*$'; }

measure() { # label capture events [extra analyze args...]
  local label=$1 cap=$2 ev=$3; shift 3
  /usr/bin/time -f "%U %S %M" -o "$work/t" "$bin" analyze -j 1 -r "$cap" -T json "$@" > "$work/out.json" 2> "$work/err" ||
    { cat "$work/err" "$work/t"; exit 1; }
  read -r u s kb < "$work/t"
  local cpu; cpu=$(echo "$u + $s" | bc -l)
  local anomalies; anomalies=$( (grep -o '"kind":' "$work/out.json" || true) | wc -l)
  printf '%-14s %11d events %8.2f CPU-s %10.0f events/CPU-s %6d MB peak %4d anomalies\n' \
    "$label" "$ev" "$cpu" "$(echo "$ev / $cpu" | bc -l)" $((kb / 1024)) "$anomalies"
  echo "$cpu $ev" > "$work/$label.m"
}

echo "== churn: the same fabric captured 1x, 2x, 4x, 8x as long"
for x in 1 2 4 8; do
  d=$work/churn-x$x
  if [ ! -f "$d/churn.pcapng" ]; then
    "$bin" synth -s churn -o "$d" --duration "$((15 * x))m" -q
  fi
  measure "churn-x$x" "$d/churn.pcapng" "$(param "$d/churn.manifest.json" route_events)"
done
# the timeline goes to a new file (truncating the last run's 2 GB would
# count freeing its pages) on the work folder's disk, then on tmpfs when
# /dev/shm is one: on a virtual disk, the interrupts of the kernel's
# write-back land as system time on whichever process runs
rm -f "$work/timeline.ndjson"
measure "churn-x8+tl" "$work/churn-x8/churn.pcapng" "$(param "$work/churn-x8/churn.manifest.json" route_events)" \
  --timeline "$work/timeline.ndjson"
rm -f "$work/timeline.ndjson"
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
  shm=$(mktemp /dev/shm/ompscope-timeline.XXXXXX)
  (measure "churn-x8+tl-shm" "$work/churn-x8/churn.pcapng" "$(param "$work/churn-x8/churn.manifest.json" route_events)" \
    --timeline "$shm") || { rm -f "$shm"; exit 1; }
  rm -f "$shm"
fi
echo "linearity (time ratio / event ratio against x1; 1.00 is linear):"
read -r c1 e1 < "$work/churn-x1.m"
for x in 2 4 8; do
  read -r c e < "$work/churn-x$x.m"
  printf '  x%d: time %.2fx, events %.2fx, per event %.2f\n' "$x" "$(echo "$c / $c1" | bc -l)" "$(echo "$e / $e1" | bc -l)" \
    "$(echo "($c / $e) / ($c1 / $e1)" | bc -l)"
done

if [ "${SKIP_SCALE:-}" != 1 ]; then
  echo "== scale: 2 000 edges, 1 000 000 routes"
  d=$work/scale
  if [ ! -f "$d/scale.pcapng" ]; then
    "$bin" synth -s scale --edges 2000 --routes 1000000 -o "$d" -q
  fi
  rows=$(grep -o '"route_count": *[0-9]*' "$d/scale.manifest.json" | grep -o '[0-9]*$' | paste -sd+ | bc)
  measure scale "$d/scale.pcapng" "$rows"
  read -r _ _ kb < "$work/t"
  printf '  %d live route rows at the end: %.0f bytes of peak RSS per row\n' "$rows" "$(echo "$kb * 1024 / $rows" | bc -l)"
fi
