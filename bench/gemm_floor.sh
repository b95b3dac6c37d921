#!/bin/sh
# The GEMM floor table of issue 16: for each case whose matrix-product work mixgrad-bench knows
# (--gemm-flops), the time those products alone take at the same run's gemm_peak, and how far the
# whole case is from it.
#   bench/gemm_floor.sh BUILD_DIR LOG
# LOG: the output of one bench/run.sh round with BENCH_ROUNDS > 1 (lines "mixgrad <case> <value>
# <unit>" and "libtorch <case> ..."), at one thread count, including the gemm_peak case.
set -eu
if [ $# -ne 2 ]; then
  echo "usage: bench/gemm_floor.sh BUILD_DIR LOG" >&2
  exit 2
fi
flops=$(mktemp)
trap 'rm -f "$flops"' EXIT
"$1/bench/mixgrad-bench" --gemm-flops > "$flops"
awk -v flops_file="$flops" '
  function median(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; ++i) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; --j) a[j + 1] = a[j]; a[j + 1] = t }
    return a[int((n + 1) / 2)]
  }
  function ms(v) { return (v >= 100 ? sprintf("%.0f", v) : sprintf("%.3g", v)) " ms" }
  BEGIN { while ((getline line < flops_file) > 0) { split(line, f, " "); gflop[f[1]] = f[2]; order[++cases] = f[1] } }
  ($1 == "mixgrad" || $1 == "libtorch") && NF == 4 { runs[$1, $2] = runs[$1, $2] " " $3 }
  END {
    if (!(("mixgrad", "gemm_peak") in runs)) { print "gemm_floor.sh: no mixgrad gemm_peak in the log" > "/dev/stderr"; exit 1 }
    peak = median(runs["mixgrad", "gemm_peak"])
    if (peak <= 0) { print "gemm_floor.sh: gemm_peak is not positive" > "/dev/stderr"; exit 1 }
    printf "gemm_peak (mixgrad, median): %s GFLOP/s\n\n", peak
    print "| case | mixgrad | libtorch | libtorch/mixgrad | GEMM work | GEMM floor | mixgrad/floor |"
    print "|---|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= cases; ++i) {
      c = order[i]
      if (!(("mixgrad", c) in runs)) continue
      m = median(runs["mixgrad", c])
      floor_ms = gflop[c] / peak * 1000
      l = (("libtorch", c) in runs) ? median(runs["libtorch", c]) : ""
      printf "| `%s` | %s | %s | %s | %.3g GFLOP | %s | %.2fx |\n", c, ms(m),
             l == "" ? "-" : ms(l), l == "" ? "-" : sprintf("%.2fx", l / m),
             gflop[c], ms(floor_ms), m / floor_ms
    }
  }' "$2"
