#pragma once
// How a set of matrix products (a batch, the groups of a grouped product) shares the threads:
// OpenBLAS runs single-threaded on every thread (blas.h), and the products run as pieces on the
// pool, a large product cut into blocks of output rows or columns. Many small pieces rather than
// one per thread, so that a descheduled thread's share is taken over by the others.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "backends/cpu/parallel.h"

namespace mixgrad::cpu {

// Below this many multiply-adds in all, the products run one after another on the caller.
inline constexpr int64_t kParallelProductWork = int64_t{1} << 18;
// A piece keeps at least this many output rows (or columns), a few of OpenBLAS's register
// blocks, so that cutting does not leave it mostly edge handling.
inline constexpr int64_t kMinPieceWidth = 32;

struct ProductShape {
  int64_t m = 0, n = 0, k = 0;
};

// Rows [begin, end) of product `product`'s output (rows = true), or columns [begin, end).
struct ProductPiece {
  int64_t product = 0;
  bool rows = true;
  int64_t begin = 0, end = 0;
};

// Calls run(piece) for pieces that together cover every output element of products
// [0, count) exactly once; shape_of(i) gives product i's dims. A product is cut along the
// larger of m and n: each piece then re-reads (and OpenBLAS re-packs) the whole other operand,
// the smaller one.
template <class ShapeOf, class Run>
void run_products(int64_t count, ShapeOf&& shape_of, Run&& run) {
  auto whole = [&](int64_t i) {
    const ProductShape s = shape_of(i);
    const bool rows = s.m >= s.n;
    run(ProductPiece{i, rows, 0, rows ? s.m : s.n});
  };
  int64_t total = 0;
  for (int64_t i = 0; i < count; ++i) {
    const ProductShape s = shape_of(i);
    total += s.m * s.n * s.k;
  }
  const int64_t threads = in_parallel() ? 1 : get_num_threads();
  if (threads < 2 || total < kParallelProductWork || count > pool::kMaxParts / 2) {
    if (threads >= 2 && total >= kParallelProductWork)  // very many products: whole ones per part
      parallel_for(count, std::max<int64_t>(1, count * kParallelProductWork / total / 4),
                   [&](int64_t begin, int64_t end) {
                     for (int64_t i = begin; i < end; ++i) whole(i);
                   });
    else
      for (int64_t i = 0; i < count; ++i) whole(i);
    return;
  }
  const int64_t target = std::max<int64_t>(1, total / (threads * kPartsPerThread));
  std::vector<ProductPiece> pieces;
  for (int64_t i = 0; i < count; ++i) {
    const ProductShape s = shape_of(i);
    const bool rows = s.m >= s.n;
    const int64_t width = rows ? s.m : s.n;
    const int64_t cuts = std::clamp<int64_t>((s.m * s.n * s.k + target - 1) / target, 1,
                                             std::max<int64_t>(1, width / kMinPieceWidth));
    for (int64_t c = 0; c < cuts; ++c)
      pieces.push_back({i, rows, width * c / cuts, width * (c + 1) / cuts});
  }
  parallel_split(static_cast<int64_t>(pieces.size()), static_cast<int64_t>(pieces.size()),
                 [&](int64_t p, int64_t, int64_t) { run(pieces[p]); });
}

}  // namespace mixgrad::cpu
