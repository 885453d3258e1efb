#!/usr/bin/env bash
# Makes cmd/ompscope/default.pgo, the CPU profile `go build` uses for
# profile-guided optimization of the binary (Go reads a default.pgo in a
# main package's folder by itself: -pgo=auto). The profile is the sum of
# the workloads the bench scripts measure, each simulated here:
#   analyze on the 2 h churning capture, without and with --timeline;
#   analyze on the 2 000-edge, 1 000 000-route scale capture;
#   dissect -q (one and two workers) and -T json on 10 h of small AES-GCM
#   records;
#   dissect -T json with two workers on 150 min of OMP-heavy records.
# Each run writes its profile through OMPSCOPE_CPUPROFILE; `go tool pprof
# -proto` adds them up. Run it again after a change that moves the hot
# paths (docs/performance.md, "Profile-guided optimization").
# Usage: pcaps/bench/pgo.sh [WORKDIR]   (about 3 GB of captures; about two
# minutes on the 2-core machine, most of it simulation)
set -euo pipefail
cd "$(dirname "$0")/../.."
. pcaps/bench/lib.sh
bench_init "${1:-}"

prof=$work/profiles
rm -rf "$prof" # a kept WORKDIR: only this run's profiles are summed
mkdir -p "$prof"
synth() { # scenario dir args...
  local s=$1 d=$2; shift 2
  [ -f "$d/$s.pcapng" ] || "$bin" synth -s "$s" -o "$d" -q "$@"
}
gcm=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
synth churn "$work/churn-x8" --duration 120m # (analyze-scale.sh's 2 h capture)
synth scale "$work/scale" --edges 2000 --routes 1000000
synth baseline "$work/small" --edges 10 --duration 600m --suites "$gcm" --no-psk --no-tls
synth churn "$work/heavy" --edges 4 --duration 150m --suites "$gcm" --no-psk --no-tls

run() { # name command...
  local name=$1; shift
  OMPSCOPE_CPUPROFILE=$prof/$name.prof "$bin" "$@" > /dev/null
  echo "profiled: $name"
}
run churn analyze -j 1 -r "$work/churn-x8/churn.pcapng" -T json
run churn-timeline analyze -j 1 -r "$work/churn-x8/churn.pcapng" -T json --timeline "$work/timeline.ndjson"
rm -f "$work/timeline.ndjson"
run scale analyze -j 1 -r "$work/scale/scale.pcapng" -T json
run small-quiet dissect -j 1 -r "$work/small/baseline.pcap" --keylog "$work/small/baseline.keys" -q
run small-quiet-j2 dissect -j 2 -r "$work/small/baseline.pcap" --keylog "$work/small/baseline.keys" -q
run small-json dissect -j 1 -r "$work/small/baseline.pcap" --keylog "$work/small/baseline.keys" -T json
run heavy-json dissect -j 2 -r "$work/heavy/churn.pcap" --keylog "$work/heavy/churn.keys" -T json
# into a temporary file first: a failed merge must not leave the build a
# truncated profile
go tool pprof -proto "$prof"/*.prof > "$work/default.pgo"
mv "$work/default.pgo" cmd/ompscope/default.pgo
echo "wrote cmd/ompscope/default.pgo ($(wc -c < cmd/ompscope/default.pgo) bytes)"
