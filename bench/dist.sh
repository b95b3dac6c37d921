#!/usr/bin/env bash
# Training over several processes on one machine (bench/README.md, "Several processes"):
#  1. all-to-all: mixgrad-dist-bench (dist::all_to_all next to MPI_Alltoallv) at 2 and 4
#     processes;
#  2. fashion-moe, one epoch, examples/s: N processes with 1 thread each (--dp N, --ep N, and
#     --ep 2 --dp 2) against one process with N threads, N = 1, 2, 4, plus each run's share of
#     training time in expert all-to-alls and in waiting for gradient reductions.
#   bench/dist.sh <build dir> [epochs]
set -euo pipefail
build=${1:?usage: bench/dist.sh <build dir> [epochs]}
epochs=${2:-1}
command=$build/bin/mixgrad
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

echo "# $(date -u +%FT%TZ) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for np in 2 4; do
  echo "## all-to-all, $np processes"
  mpirun -np "$np" --oversubscribe --bind-to none "$build/bench/mixgrad-dist-bench" --reps 30
done

# One fashion-moe run: examples/s of the last epoch and the all-to-all share from the summary.
run() {
  local label=$1
  shift
  local out=$scratch/run
  rm -rf "$out"
  "$command" train fashion-moe --epochs "$epochs" --out "$out" --json "$@" \
    >"$scratch/json" 2>"$scratch/log"
  local rate shares
  rate=$(tail -1 "$scratch/json" | python3 -c 'import json,sys; print("%.0f" % json.load(sys.stdin)["examples_per_second"])')
  shares=$(grep -o '([0-9.]*%' "$scratch/log" | tail -2 | tr -d '(' | tr '\n' ' ')
  if ! grep -q 'expert all-to-alls' "$scratch/log"; then shares="- -"; fi
  printf '%-40s %10s %10s %10s\n' "$label" "$rate" $shares
}

echo "## fashion-moe, $epochs epoch(s): examples/s (last epoch); rank 0's share of training time"
echo "## in expert all-to-alls and in waiting for gradient reductions"
printf '%-40s %10s %10s %10s\n' "run" "examples/s" "all-to-all" "grad-wait"
for n in 1 2 4; do
  run "1 process, $n threads" --threads "$n"
  if [ "$n" -gt 1 ]; then
    run "$n processes x 1 thread, --dp $n" --threads 1 --dp "$n"
    run "$n processes x 1 thread, --ep $n" --threads 1 --ep "$n"
  fi
done
run "4 processes x 1 thread, --ep 2 --dp 2" --threads 1 --ep 2 --dp 2
