#!/usr/bin/env bash
# Measures ompscope's peak memory (GNU time) on the hostile captures of
# issue 18, item 3, made by pcaps/bench/hostile: 300 000 one-packet DTLS
# flows (analyze, -j 1 and -j 2), 8 000 000 pcapng Interface Description
# Blocks (analyze: refused with an error past 65 536 interfaces), 2 000 000
# Decryption Secrets Blocks of another type (dissect --stats: one line).
# The goal is a peak of 256 MB at most on each; docs/performance.md
# ("Hostile captures") reports the figures.
# Usage: pcaps/bench/hostile.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
. pcaps/bench/lib.sh
bench_init "${1:-}"
[ -s "$work/flows.pcap" ] || go run ./pcaps/bench/hostile -o "$work"
run() { # label, then the command
  local label=$1; shift
  local st=0
  /usr/bin/time -f "%e %M" -o "$work/t" "$@" > /dev/null 2> "$work/err" || st=$?
  read -r wall kb < <(tail -1 "$work/t")
  printf '%-28s %6.2f s %5d MB peak  exit %d  %s\n' "$label" "$wall" $((kb / 1024)) "$st" "$(grep -v '^Command exited' "$work/err" | tail -1 | cut -c1-90)"
}
run "flows, -j 1" "$bin" analyze -j 1 -r "$work/flows.pcap" -T json
run "flows, -j 2" "$bin" analyze -j 2 -r "$work/flows.pcap" -T json
run "8 M IDBs" "$bin" analyze -r "$work/idbflood.pcapng.gz" -T json
run "2 M DSBs" "$bin" dissect -q --stats -r "$work/dsbflood.pcapng.gz"
