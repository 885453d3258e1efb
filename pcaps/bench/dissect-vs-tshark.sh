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

run() { # label, command...: prints seconds and peak KB
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/t" "$@" > /dev/null 2> "$work/err" || { cat "$work/err"; exit 1; }
  read -r s kb < "$work/t"
  printf '%-28s %8.2f s %10.0f records/s %8d MB peak\n' "$label" "$s" "$(echo "$records / $s" | bc -l)" $((kb / 1024))
  echo "$s" > "$work/$label.s"
}
run ompscope-quiet-j1 "$work/ompscope" dissect -j 1 -r "$cap" --keylog "$keys" -q
run ompscope-quiet "$work/ompscope" dissect -r "$cap" --keylog "$keys" -q
run tshark-quiet "${tsh[@]}" -q -Y "dtls.app_data || tls.app_data"
run ompscope-json-j1 "$work/ompscope" dissect -j 1 -r "$cap" --keylog "$keys" -T json
run ompscope-json "$work/ompscope" dissect -r "$cap" --keylog "$keys" -T json
run tshark-ek "${tsh[@]}" -T ek -Y "dtls.app_data || tls.app_data"
printf 'ratio, no output:   %.1fx\n' "$(echo "$(cat "$work/tshark-quiet.s") / $(cat "$work/ompscope-quiet.s")" | bc -l)"
printf 'ratio, JSON output: %.1fx\n' "$(echo "$(cat "$work/tshark-ek.s") / $(cat "$work/ompscope-json.s")" | bc -l)"
