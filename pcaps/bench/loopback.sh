#!/bin/sh
# Capture speed on loopback: sends UDP datagrams to a controller DTLS port
# on 127.0.0.1 at increasing rates while dissect/live captures them with
# the default kernel filter, and reports the highest rate captured with 0
# kernel drops and what limited it. Needs root (or CAP_NET_RAW and
# CAP_NET_ADMIN for the large socket buffer). Each rate runs for STEP
# (default 2s); at most 5 million packets per rate.
#
# Usage: pcaps/bench/loopback.sh [extra loopbench flags]
#   e.g. -dissect (also run dissect.Dissector.Packet on every packet),
#        -impl pcapgo (gopacket's pcapgo.EthernetHandle, for comparison),
#        -buffer 212992 (a small socket buffer), -rates 100000,200000
set -eu
cd "$(dirname "$0")/../.."
case " $* " in # (the last two sections choose -jobs themselves)
*" -jobs"* | *" --jobs"*)
  echo "loopback.sh: -jobs is the script's to choose (none, then 1, then one per core, at most 64); for another number run loopbench itself (go build ./pcaps/bench/loopbench, then run it as root with -jobs N)" >&2
  exit 2 ;;
esac
bin=$(mktemp -d)/loopbench
trap 'rm -rf "$(dirname "$bin")"' EXIT
CGO_ENABLED=0 go build -o "$bin" ./pcaps/bench/loopbench
echo "== capture alone"
"$bin" -step "${STEP:-2s}" "$@"
echo
echo "== capture + dissect.Dissector.Packet (no keys)"
"$bin" -step "${STEP:-2s}" -dissect "$@"
case " $* " in # (flag takes -impl and --impl, with a space or an =)
*" -impl pcapgo "* | *" -impl=pcapgo "* | *" --impl pcapgo "* | *" --impl=pcapgo "*)
  exit 0 ;; # the pipeline reads dissect/live only
esac
echo
echo "== the commands' pipeline: Dissector.RunSource with one worker, then one per core"
echo "(CPU here: the whole process less the sending threads, the runtime and collector included)"
"$bin" -step "${STEP:-2s}" -jobs 1 "$@"
echo
n=$(nproc)
[ "$n" -le 64 ] || n=64
"$bin" -step "${STEP:-2s}" -jobs "$n" "$@"
