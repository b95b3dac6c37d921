#!/bin/sh
# Runs mixgrad-bench and, where it was built, its libtorch peer with the same arguments, then
# prints the ratio table (bench/compare.sh). The front end of `make bench`.
#   bench/run.sh BUILD_DIR [mixgrad-bench arguments...]
# BENCH_THREADS="1 16": one round per thread count (adds --threads N to the arguments).
# BENCH_ROUNDS=R (R > 1): every case runs R times, alternating the two programs case by case,
# and each program's median over the R runs goes into the table, so that the drift of a shared
# machine hits both sides alike.
# BENCH_PEER=PROGRAM: compare with PROGRAM instead of the libtorch peer, e.g. the mixgrad-bench
# of an earlier commit's build, to see what a change costs (columns "peer", "peer/mixgrad").
set -eu
if [ $# -lt 1 ]; then
  echo "usage: bench/run.sh BUILD_DIR [--threads N] [--filter REGEX] [--min-time S] [--list]" >&2
  exit 2
fi
build_dir=$1
shift
here=$(dirname "$0")
mixgrad_bench=$build_dir/bench/mixgrad-bench
libtorch_bench=${BENCH_PEER:-$build_dir/bench/peers/libtorch-bench}
peer_name=libtorch
if [ -n "${BENCH_PEER:-}" ]; then
  peer_name=peer
  export PEER_LABEL=peer
fi

for arg in "$@"; do
  if [ "$arg" = "--list" ]; then exec "$mixgrad_bench" "$@"; fi
done
if [ ! -x "$libtorch_bench" ]; then
  echo "note: libtorch-bench is not built, so there is no libtorch comparison. Install libtorch" \
       "(sudo apt-get install libtorch-dev on Debian/Ubuntu) and run make bench again." >&2
fi

# The same OpenBLAS kernels on both sides: mixgrad replaces OpenBLAS's pre-AVX fallback on a CPU
# model that OpenBLAS does not know (backends/cpu_api.h), libtorch would keep it.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  core=$("$mixgrad_bench" --blas-core)
  if [ -n "$core" ]; then
    OPENBLAS_CORETYPE=$core
    export OPENBLAS_CORETYPE
  fi
fi
echo "== OpenBLAS kernels: ${OPENBLAS_CORETYPE:-as OpenBLAS chooses} (both programs)"

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

# Each case's median value over the runs in file $1 (lines "<case> <value> <unit>").
median_per_case() {
  sort -k1,1 -k2,2g "$1" | awk '
    { name[NR] = $1; value[NR] = $2; unit[$1] = $3; count[$1]++ }
    END {
      for (i = 1; i <= NR; ++i) {
        c = name[i]; seen[c]++
        if (seen[c] == int((count[c] + 1) / 2)) print c, value[i], unit[c]
      }
    }'
}

# One round: both programs, then the table.
round() {
  if [ "$rounds" -gt 1 ] && [ -x "$libtorch_bench" ]; then
    : > "$tmp/mixgrad.all"
    : > "$tmp/libtorch.all"
    echo "== $rounds interleaved runs per case: mixgrad-bench, $libtorch_bench $*"
    for c in $("$mixgrad_bench" "$@" --list); do
      i=0
      while [ "$i" -lt "$rounds" ]; do
        "$mixgrad_bench" "$@" --filter "^$c\$" | sed 's/^/mixgrad /' | tee -a "$tmp/mixgrad.all"
        "$libtorch_bench" "$@" --filter "^$c\$" | sed "s/^/$peer_name /" | tee -a "$tmp/libtorch.all"
        i=$((i + 1))
      done
    done
    sed 's/^mixgrad //' "$tmp/mixgrad.all" > "$tmp/m.all"
    sed "s/^$peer_name //" "$tmp/libtorch.all" > "$tmp/l.all"
    median_per_case "$tmp/m.all" > "$tmp/mixgrad.txt"
    median_per_case "$tmp/l.all" > "$tmp/libtorch.txt"
    # The table follows mixgrad-bench's case order.
    "$mixgrad_bench" "$@" --list | while read -r c; do grep "^$c " "$tmp/mixgrad.txt"; done \
      > "$tmp/mixgrad.ordered"
    echo "== ratios, medians of $rounds runs ($*)"
    "$here/compare.sh" "$tmp/mixgrad.ordered" "$tmp/libtorch.txt"
    return 0
  fi
  run_kept mixgrad "$mixgrad_bench" "$@"
  [ -x "$libtorch_bench" ] || return 0
  run_kept libtorch "$libtorch_bench" "$@"
  echo "== ratios ($*)"
  "$here/compare.sh" "$tmp/mixgrad.txt" "$tmp/libtorch.txt"
}

rounds=${BENCH_ROUNDS:-1}
if [ -z "${BENCH_THREADS:-}" ]; then
  round "$@"
else
  for threads in $BENCH_THREADS; do round --threads "$threads" "$@"; done
fi
