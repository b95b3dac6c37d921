#!/bin/sh
# Joins the outputs of mixgrad-bench and libtorch-bench (one "<case> <value> <unit>" line per
# case) into a Markdown ratio table, in mixgrad-bench's case order (cases only the peer has come
# last). "libtorch/mixgrad" is the speedup of mixgrad over libtorch: libtorch ms / mixgrad ms, and
# for GFLOP/s lines mixgrad GFLOP/s / libtorch GFLOP/s; above 1 means mixgrad is faster.
#   bench/compare.sh MIXGRAD_OUTPUT LIBTORCH_OUTPUT
# PEER_LABEL names the second program in the table (default libtorch).
set -eu
if [ $# -ne 2 ]; then
  echo "usage: bench/compare.sh MIXGRAD_OUTPUT LIBTORCH_OUTPUT" >&2
  exit 2
fi
awk -v peer="${PEER_LABEL:-libtorch}" '
  # Only result lines: name, number, unit.
  NF != 3 || ($3 != "ms" && $3 != "GFLOP/s") || $2 !~ /^[0-9.]+$/ { next }
  !($1 in seen) { seen[$1] = 1; order[++n] = $1; unit[$1] = $3 }
  FNR == NR { mixgrad[$1] = $2; next }
  { libtorch[$1] = $2 }
  END {
    print "| case | mixgrad | " peer " | " peer "/mixgrad |"
    print "|---|---:|---:|---:|"
    for (i = 1; i <= n; ++i) {
      c = order[i]; u = unit[c]
      m = (c in mixgrad) ? mixgrad[c] " " u : "-"
      l = (c in libtorch) ? libtorch[c] " " u : "-"
      ratio = "-"
      if ((c in mixgrad) && (c in libtorch) && mixgrad[c] > 0 && libtorch[c] > 0) {
        r = (u == "ms") ? libtorch[c] / mixgrad[c] : mixgrad[c] / libtorch[c]
        ratio = sprintf("%.2fx", r)
      }
      printf "| `%s` | %s | %s | %s |\n", c, m, l, ratio
    }
  }
' "$1" "$2"
