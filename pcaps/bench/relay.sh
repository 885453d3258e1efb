#!/usr/bin/env bash
# Measures the scale-out path (docs/scale-out.md, docs/performance.md):
# one sensor (`dissect --publish`) to a local nats-server (JetStream, file
# store in WORKDIR) to the central analyzer (`analyze --subscribe`), on
# the churning capture (`synth -s churn`, 30 min: about 84 000 OMP-heavy
# records, 40 MB of envelopes):
#   1. the sensor alone: envelopes per second into the stream;
#   2. the central alone, on the stored stream: envelopes per second out
#      of it, analyzed (--idle-exit 1s: the second it waits is taken off);
#   3. both at once, the central first, as in a live deployment: wall
#      time end to end and the lateness from the server to the analysis
#      (median, 99th percentile, max, as the central prints them);
#   4. analyze -r on the capture, for comparison.
# Usage: pcaps/bench/relay.sh [WORKDIR]   (needs nats-server and GNU time)
set -euo pipefail
cd "$(dirname "$0")/../.."
. pcaps/bench/lib.sh
bench_init "${1:-}"
command -v nats-server >/dev/null || { echo "nats-server is not installed (apt-get install nats-server)"; exit 1; }
echo "nats-server: $(nats-server --version)"

d=$work/churn30
[ -f "$d/churn.pcapng" ] || "$bin" synth -s churn -o "$d" --duration 30m -q
cap=$d/churn.pcapng keys=$d/churn.keys
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rm -rf "$work/js"
nats-server -js -sd "$work/js" -a 127.0.0.1 -p "$port" > "$work/nats.log" 2>&1 &
npid=$!
trap 'kill $npid 2>/dev/null || true' EXIT
sleep 1
url=nats://127.0.0.1:$port

run() { # label cmd...: prints wall and CPU seconds and peak RSS
  local label=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$@" > "$work/$label.out" 2> "$work/$label.err" || { cat "$work/$label.err"; exit 1; }
  read -r wall u s kb < "$work/t"
  printf '%-10s %6.2f s wall %6.2f CPU-s %5d MB peak\n' "$label" "$wall" "$(echo "$u + $s" | bc -l)" $((kb / 1024))
  echo "$wall" > "$work/$label.wall"
}
envs() { grep -o '[0-9]* envelopes' "$work/$1.err" | head -1 | cut -d' ' -f1; }

echo "== 1. the sensor alone"
run publish "$bin" dissect -r "$cap" --keylog "$keys" --publish "$url" --stream BENCH --sensor s1
grep -o 'published.*' "$work/publish.err"
printf '  %.0f envelopes per second into the stream\n' "$(echo "$(envs publish) / $(cat "$work/publish.wall")" | bc -l)"

echo "== 2. the central alone, on the stored stream"
run subscribe "$bin" analyze --subscribe "$url" --stream BENCH --idle-exit 1s -T json
grep -o 'envelopes.*' "$work/subscribe.err"
printf '  %.0f envelopes per second out of the stream, analyzed\n' "$(echo "$(envs subscribe) / ($(cat "$work/subscribe.wall") - 1)" | bc -l)"

echo "== 3. both at once (the central waiting first), a new stream"
start=$(date +%s.%N)
"$bin" analyze --subscribe "$url" --stream LIVE --idle-exit 2s -T json > "$work/live.out" 2> "$work/live.err" &
cpid=$!
sleep 0.5
"$bin" dissect -r "$cap" --keylog "$keys" --publish "$url" --stream LIVE --sensor s1 2> "$work/live-pub.err"
pubdone=$(date +%s.%N)
wait $cpid || { cat "$work/live.err"; exit 1; }
end=$(date +%s.%N)
grep -o 'envelopes.*' "$work/live.err" | tail -1
printf '  sensor done %.2f s after the start, analysis done %.2f s after the sensor (of which 2 s --idle-exit)\n' \
  "$(echo "$pubdone - $start - 0.5" | bc -l)" "$(echo "$end - $pubdone" | bc -l)"

echo "== 3b. paced: the capture fed to the sensor at 5 MB/s (about 8 400 envelopes/s), the central live"
"$bin" analyze --subscribe "$url" --stream PACED --idle-exit 2s -T json > "$work/paced.out" 2> "$work/paced.err" &
cpid=$!
sleep 0.5
python3 -c '
import sys, time
rate, f = int(sys.argv[1]), open(sys.argv[2], "rb")
t0, n = time.time(), 0
while True:
    b = f.read(65536)
    if not b:
        break
    sys.stdout.buffer.write(b); sys.stdout.buffer.flush(); n += len(b)
    d = n / rate - (time.time() - t0)
    if d > 0:
        time.sleep(d)
' 5000000 "$cap" | "$bin" dissect -r - -j 1 --keylog "$keys" --publish "$url" --stream PACED --sensor s1 2> "$work/paced-pub.err"
wait $cpid || { cat "$work/paced.err"; exit 1; }
grep -o 'envelopes.*' "$work/paced.err" | tail -1
cmp -s "$work/paced.out" "$work/subscribe.out" && echo "  the same summary" || { echo "  the paced central's summary DIFFERS"; exit 1; }

echo "== 4. analyze -r on the capture"
run offline "$bin" analyze -r "$cap" --keylog "$keys" -T json
cmp -s "$work/offline.out" "$work/subscribe.out" && echo "  the central's summary is byte-identical to analyze -r's" ||
  { echo "  the central's summary DIFFERS from analyze -r's"; exit 1; }
