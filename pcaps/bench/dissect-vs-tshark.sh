#!/usr/bin/env bash
# Times ompscope dissect against tshark on the same simulated capture and
# keys, as docs/performance.md reports:
#   1. decryption with no output: ompscope dissect -q  vs  tshark -q -Y dtls.app_data
#   2. JSON output:               ompscope dissect -T json  vs  tshark -T ek
# ompscope runs with its default workers (-j: the machine's cores; the
# ratios use these, wall time) and with -j 1 (one core).
# and peak memory (GNU time's maximum resident set size).
# Usage: pcaps/bench/dissect-vs-tshark.sh [EDGES] [DURATION]   (default 10 1h:
# about 230 000 application records over 41 sessions)
# Environment: SCENARIO (default baseline; churn gives OMP-heavy records),
# SUITES (one or more cipher suites, `ompscope synth --list-suites`; the
# PSK session is then left out), NO_TLS=1 (DTLS sessions only).
# pcaps/bench/dissect-suites.sh runs it for one suite at a time.
set -euo pipefail
cd "$(dirname "$0")/../.."
edges=${1:-10}
dur=${2:-1h}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v tshark >/dev/null || { echo "tshark is not installed (apt-get install tshark)"; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is not installed (apt-get install time)"; exit 1; }

scenario=${SCENARIO:-baseline}
extra=()
[ -n "${SUITES:-}" ] && extra+=(--suites "$SUITES" --no-psk)
[ "${NO_TLS:-}" = 1 ] && extra+=(--no-tls)
go build -o "$work/ompscope" ./cmd/ompscope
"$work/ompscope" synth -s "$scenario" -o "$work" --edges "$edges" --duration "$dur" -q "${extra[@]}"
cap=$work/$scenario.pcap keys=$work/$scenario.keys
records=$(grep -o '"decryptable_records": *[0-9]*' "$work/$scenario.manifest.json" | grep -o '[0-9]*$')
echo "capture: $(du -h "$cap" | cut -f1), $records application records; machine: $(nproc) cores, $(uname -m), load $(cut -d' ' -f1 /proc/loadavg)"

ports=()
for p in $(grep -o '"server": *"[^"]*"' "$work/$scenario.manifest.json" | grep -o ':[0-9]*"' | tr -d ':"' | sort -u); do
  if [ "$p" = 23456 ]; then ports+=(-d "tcp.port==$p,tls"); else ports+=(-d "udp.port==$p,dtls"); fi
done
tsh=(tshark -r "$cap" -n -o "tls.keylog_file:$keys" "${ports[@]}" --disable-protocol rdpmt --disable-protocol udt --disable-protocol reload-framing)

run() { # label, runs, command...: the median wall time of the runs (ms
  # resolution: GNU time's %e has 10 ms, a tenth to a twentieth of ompscope's runs
  # here), and the peak RSS of the last
  local label=$1 n=$2; shift 2
  local ts=()
  for _ in $(seq "$n"); do
    local t0 t1; t0=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$work/t" "$@" > /dev/null 2> "$work/err" || { cat "$work/err"; exit 1; }
    t1=$(date +%s%N)
    ts+=("$(echo "($t1 - $t0) / 1000000000" | bc -l)")
  done
  local s; s=$(printf '%s\n' "${ts[@]}" | sort -g | sed -n "$(( (n + 1) / 2 ))p")
  local kb; read -r kb < "$work/t"
  printf '%-28s %8.3f s %10.0f records/s %8d MB peak%s\n' "$label" "$s" "$(echo "$records / $s" | bc -l)" $((kb / 1024)) \
    "$([ "$n" -gt 1 ] && echo " (median of $n)")"
  echo "$s" > "$work/$label.s"
}
run ompscope-quiet-j1 5 "$work/ompscope" dissect -j 1 -r "$cap" --keylog "$keys" -q
run ompscope-quiet 5 "$work/ompscope" dissect -r "$cap" --keylog "$keys" -q
run tshark-quiet 1 "${tsh[@]}" -q -Y "dtls.app_data || tls.app_data"
run ompscope-json-j1 5 "$work/ompscope" dissect -j 1 -r "$cap" --keylog "$keys" -T json
run ompscope-json 5 "$work/ompscope" dissect -r "$cap" --keylog "$keys" -T json
run tshark-ek 1 "${tsh[@]}" -T ek -Y "dtls.app_data || tls.app_data"
printf 'ratio, no output:   %.1fx\n' "$(echo "$(cat "$work/tshark-quiet.s") / $(cat "$work/ompscope-quiet.s")" | bc -l)"
printf 'ratio, JSON output: %.1fx\n' "$(echo "$(cat "$work/tshark-ek.s") / $(cat "$work/ompscope-json.s")" | bc -l)"
best() { # the faster of the -j 1 run and the default's
  printf '%s\n%s\n' "$(cat "$work/$1-j1.s")" "$(cat "$work/$1.s")" | sort -g | head -1
}
printf 'ratio, best of -j 1 and the default: no output %.1fx, JSON %.1fx\n' \
  "$(echo "$(cat "$work/tshark-quiet.s") / $(best ompscope-quiet)" | bc -l)" \
  "$(echo "$(cat "$work/tshark-ek.s") / $(best ompscope-json)" | bc -l)"
