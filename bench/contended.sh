#!/bin/sh
# How mixgrad's threads behave on a shared machine: every selected case of mixgrad-bench at 1
# thread and at the default thread count (all cores), each on an idle machine and beside one
# competing CPU-bound process that this script starts (a shell busy loop, like `yes > /dev/null`).
#   bench/contended.sh BUILD_DIR [--filter REGEX] [--min-time S]
# BENCH_ROUNDS=R: every case runs R times in each of the four settings, the settings alternating
# run by run so that the machine's drift hits them alike; the table shows the medians.
# BENCH_THREADS=N: the "default" thread count (default: the CPUs, nproc).
# The last column is the issue-16 measure: the default thread count beside the busy process,
# over 1 thread beside it (target at most 1.2).
set -eu
if [ $# -lt 1 ]; then
  echo "usage: bench/contended.sh BUILD_DIR [--filter REGEX] [--min-time S]" >&2
  exit 2
fi
bench=$1/bench/mixgrad-bench
shift
rounds=${BENCH_ROUNDS:-3}
threads=${BENCH_THREADS:-$(nproc)}
tmp=$(mktemp -d)
busy_pid=
stop_busy() {
  if [ -n "$busy_pid" ]; then kill "$busy_pid" 2>/dev/null || true; wait "$busy_pid" 2>/dev/null || true; fi
  busy_pid=
}
trap 'stop_busy; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# One run of case $1 at $2 threads, appending "<case> <ms>" to $tmp/$3.
measure() {
  c=$1; t=$2; file=$3; shift 3
  "$bench" "$@" --threads "$t" --filter "^$c\$" | awk -v f="$tmp/$file" '{ print $1, $2 >> f }'
}

echo "== bench/contended.sh: $rounds rounds, 1 and $threads threads, idle and beside one busy process"
for c in $("$bench" "$@" --list); do
  case $c in gemm_peak | *_peak_mb) continue ;; esac
  r=0
  while [ "$r" -lt "$rounds" ]; do
    measure "$c" 1 idle1 "$@"
    measure "$c" "$threads" idleN "$@"
    sh -c 'while :; do :; done' &
    busy_pid=$!
    measure "$c" 1 busy1 "$@"
    measure "$c" "$threads" busyN "$@"
    stop_busy
    r=$((r + 1))
  done
  echo "   $c done" >&2
done

median() {  # median of column 2 per case in file $1, as "<case> <ms>"
  sort -k1,1 -k2,2g "$1" | awk '
    { name[NR] = $1; value[NR] = $2; count[$1]++ }
    END { for (i = 1; i <= NR; ++i) { c = name[i]; seen[c]++
            if (seen[c] == int((count[c] + 1) / 2)) print c, value[i] } }'
}
for f in idle1 idleN busy1 busyN; do median "$tmp/$f" > "$tmp/$f.med"; done
echo "(medians in ms)"
printf '%-34s %10s %10s %10s %10s %9s\n' case "idle 1t" "idle ${threads}t" "busy 1t" "busy ${threads}t" "busy N/1"
"$bench" "$@" --list | while read -r c; do
  grep -q "^$c " "$tmp/idle1.med" 2>/dev/null || continue
  i1=$(grep "^$c " "$tmp/idle1.med" | cut -d' ' -f2)
  iN=$(grep "^$c " "$tmp/idleN.med" | cut -d' ' -f2)
  b1=$(grep "^$c " "$tmp/busy1.med" | cut -d' ' -f2)
  bN=$(grep "^$c " "$tmp/busyN.med" | cut -d' ' -f2)
  printf '%-34s %10s %10s %10s %10s %8.2fx\n' "$c" "$i1" "$iN" "$b1" "$bN" \
    "$(echo "$bN $b1" | awk '{ print $1 / $2 }')"
done
