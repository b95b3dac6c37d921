#!/bin/sh
# Runs mixgrad-bench and, where it was built, its libtorch peer with the same arguments, then
# prints the ratio table (bench/compare.sh). The front end of `make bench`.
#   bench/run.sh BUILD_DIR [mixgrad-bench arguments...]
# BENCH_THREADS="1 16": one round per thread count (adds --threads N to the arguments).
set -eu
if [ $# -lt 1 ]; then
  echo "usage: bench/run.sh BUILD_DIR [--threads N] [--filter REGEX] [--min-time S] [--list]" >&2
  exit 2
fi
build_dir=$1
shift
here=$(dirname "$0")
mixgrad_bench=$build_dir/bench/mixgrad-bench
libtorch_bench=$build_dir/bench/peers/libtorch-bench

for arg in "$@"; do
  if [ "$arg" = "--list" ]; then exec "$mixgrad_bench" "$@"; fi
done
if [ ! -x "$libtorch_bench" ]; then
  echo "note: libtorch-bench is not built, so there is no libtorch comparison. Install libtorch" \
       "(sudo apt-get install libtorch-dev on Debian/Ubuntu) and run make bench again." >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Runs one program, showing its lines as they come and keeping them in $tmp/NAME.txt; stops the
# script with the program's status if it fails (POSIX sh has no pipefail).
run_kept() {
  name=$1
  shift
  program=$1
  shift
  echo "== $(basename "$program") $*"
  { "$program" "$@" && echo 0 > "$tmp/$name.rc" || echo $? > "$tmp/$name.rc"; } |
    tee "$tmp/$name.txt"
  status=$(cat "$tmp/$name.rc")
  if [ "$status" -ne 0 ]; then
    echo "bench/run.sh: $name failed (exit status $status)" >&2
    exit "$status"
  fi
}

# One round: both programs, then the table.
round() {
  run_kept mixgrad "$mixgrad_bench" "$@"
  [ -x "$libtorch_bench" ] || return 0
  run_kept libtorch "$libtorch_bench" "$@"
  echo "== ratios ($*)"
  "$here/compare.sh" "$tmp/mixgrad.txt" "$tmp/libtorch.txt"
}

if [ -z "${BENCH_THREADS:-}" ]; then
  round "$@"
else
  for threads in $BENCH_THREADS; do round --threads "$threads" "$@"; done
fi
