#!/usr/bin/env bash
# dissect-vs-tshark.sh for one cipher suite at a time, DTLS sessions only
# (every control connection of the capture uses the suite), on small
# records (baseline: 10 edges, 1 h) and on OMP-heavy records (churn: 4
# edges, 15 min, UPDATEs with many NLRI and attributes). The suites: AES-256-GCM
# and AES-256-CBC, the ECDHE CBC suite pion's DTLS offers (it has no
# ECDHE AES-128-CBC).
# Usage: pcaps/bench/dissect-suites.sh [SCALE]
# SCALE (default 1) multiplies the captures' duration: 10 gives 10 h of
# baseline (2.3 M small records) and 150 min of churn (420 000 OMP-heavy
# records), where the process's start (10-24 ms) no longer counts and the
# parallel run has time to pay; tshark -T ek then takes 3.5-7 minutes on
# each small-record capture and 1-2 on each OMP-heavy one (the four: 10-16
# minutes on the 2-core machines of docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")"
x=${1:-1}
[[ $x =~ ^[1-9][0-9]*$ ]] || { echo "SCALE must be a whole number from 1" >&2; exit 2; }
for suite in TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA; do
  echo "== $suite, small records (baseline)"
  SUITES=$suite NO_TLS=1 ./dissect-vs-tshark.sh 10 "$((60 * x))m"
  echo "== $suite, OMP-heavy records (churn)"
  SCENARIO=churn SUITES=$suite NO_TLS=1 ./dissect-vs-tshark.sh 4 "$((15 * x))m"
done
