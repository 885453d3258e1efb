# shellcheck shell=bash
# Sourced by the bench scripts (from the repository's root):
# bench_init [WORKDIR] checks for GNU time, sets work (WORKDIR, or a
# temporary folder removed at exit) and bin (ompscope, built there), and
# prints the machine the figures are for.
bench_init() {
  [ -x /usr/bin/time ] || { echo "GNU time is not installed (apt-get install time)"; exit 1; }
  if [ $# -ge 1 ] && [ -n "$1" ]; then
    case $1 in
    -*) echo "usage: $0 [WORKDIR] (a folder, not an option: $1)" >&2; exit 2 ;;
    esac
    work=$1; mkdir -p -- "$work"
  else
    work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  fi
  bin=$work/ompscope
  go build -o "$bin" ./cmd/ompscope
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -m), $(go version | cut -d' ' -f3), load $(cut -d' ' -f1 /proc/loadavg)"
}
