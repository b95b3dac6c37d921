#!/usr/bin/env bash
# Runs every libFuzzer program of a MIXGRAD_FUZZ build (the `fuzz` preset) for a while.
#
#   fuzz/run.sh <build dir> <seconds per target> [target ...]
#
# Each target starts from the seed corpus (mixgrad_fuzz_seeds, written afresh each run) plus
# what earlier runs found, kept in <build dir>/fuzz/corpus/<target>, and replays
# fuzz/regressions/<target>/ first. A finding (crash, sanitizer report, leak, timeout, out of
# memory) is saved as <build dir>/fuzz/findings/<target>/<kind>-<sha1>, its log beside it; the
# script goes on with the other targets and exits 1 if any target found something.
# Environment: FUZZ_RSS_MB (default 2048), FUZZ_TIMEOUT (seconds per input, default 10),
# FUZZ_SEED (libFuzzer's random seed; random when unset).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 <build dir> <seconds per target> [target ...]" >&2
  exit 2
fi
build=$(cd "$1" && pwd)/fuzz
seconds=$2
shift 2
source_dir=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$build/targets.txt" ]; then
  echo "$build/targets.txt not found: is $1 a MIXGRAD_FUZZ=ON build (cmake --preset fuzz)?" >&2
  exit 2
fi
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets <"$build/targets.txt"; fi

# One thread: the readers are what is fuzzed, and idle pool threads would only cost CPU.
export MIXGRAD_NUM_THREADS=1 OMP_NUM_THREADS=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

rm -rf "$build/seeds"
"$build/mixgrad_fuzz_seeds" "$build/seeds" >/dev/null

failed=()
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t
  findings=$build/findings/$t
  mkdir -p "$corpus" "$findings"
  cp -f "$build/seeds/$t"/* "$corpus/"
  dirs=("$corpus")
  [ -d "$source_dir/regressions/$t" ] && dirs+=("$source_dir/regressions/$t")
  log=$findings/last-run.log
  echo "== $t: ${seconds}s from $(ls "$corpus" | wc -l) corpus inputs"
  seed=()  # FUZZ_SEED fixes libFuzzer's random seed (the test suite's run: reproducible)
  [ -n "${FUZZ_SEED:-}" ] && seed=(-seed="$FUZZ_SEED")
  if "$build/mixgrad_fuzz_$t" -max_total_time="$seconds" -rss_limit_mb="${FUZZ_RSS_MB:-2048}" \
    -timeout="${FUZZ_TIMEOUT:-10}" -artifact_prefix="$findings/" -print_final_stats=1 \
    "${seed[@]}" "${dirs[@]}" >"$log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$log" | sed 's/^/   /'
  else
    echo "!! $t found something (log: $log):"
    grep -E "ERROR|runtime error|fuzz finding|Test unit written|SUMMARY|==ERROR|terminate" "$log" |
      head -20 | sed 's/^/   /'
    grep -E "^    #[0-9]+ " "$log" | head -15
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "findings in: ${failed[*]} (inputs and logs under $build/findings/)"
  exit 1
fi
echo "no findings (${#targets[@]} targets, ${seconds}s each)"
