#pragma once
// Row-wise CPU kernels (softmax, sort, topk) see their operands as rows along one dim: each index
// of the other dims names one row, whose elements sit stride(k) elements apart in operand k.
// Operands may differ in length along that dim (topk's outputs hold k elements) but agree on
// every other dim. A 0-dim operand is a single row of one element.
#include <algorithm>
#include <array>
#include <cstdint>

#include "backends/cpu/parallel.h"
#include "backends/strided_plan.h"
#include "core/tensor.h"

namespace mixgrad::cpu {

template <int N>
class DimRows {
 public:
  using Offsets = std::array<int64_t, N>;

  // The other dims are planned together, so rows along merged dims tile as one.
  DimRows(const std::array<const Tensor*, N>& operands, int64_t dim)
      : others_(operands, [dim](int64_t d) { return d != dim; }) {
    for (int k = 0; k < N; ++k) {
      const bool scalar = operands[k]->dim() == 0;
      length_[k] = scalar ? 1 : operands[k]->shape()[dim];
      stride_[k] = scalar ? 1 : operands[k]->strides()[dim];
    }
  }

  int64_t count() const { return others_.numel(); }
  int64_t length(int k) const { return length_[k]; }
  int64_t stride(int k) const { return stride_[k]; }

  // Calls row(offsets) for rows [begin, end), where offsets[k] is the element offset of the
  // row's first element in operand k (relative to its data_ptr()).
  template <class F>
  void for_rows(int64_t begin, int64_t end, F&& row) const {
    for_row_tiles(begin, end, 1, [&](const Offsets& off, int64_t) { row(off); });
  }

  // Like for_rows, but hands over up to max_tile rows at once: tile(offsets, count) gets rows
  // that are neighbours along the innermost other dim, the t-th one at offsets[k] +
  // t * tile_stride(k). When that stride is 1 (softmax over a non-last dim of a contiguous
  // tensor), reading a tile element by element touches whole cache lines instead of one
  // element per line.
  template <class F>
  void for_row_tiles(int64_t begin, int64_t end, int64_t max_tile, F&& tile) const {
    kernels::StridedWalk<N> walk(others_, begin);
    for (int64_t r = begin; r < end;) {
      const int64_t count = std::min({max_tile, end - r, walk.run_left()});
      tile(walk.offsets(), count);
      r += count;
      walk.advance(count);
    }
  }

  // Offset between neighbouring rows of a tile in operand k.
  int64_t tile_stride(int k) const { return others_.inner_stride(k); }

  // Splits the rows across threads so that each gets at least kGrainSize units of work, given
  // the cost of one row; chunk(begin, end) runs once per thread, so per-thread scratch memory
  // belongs at its top, outside the per-row loop.
  template <class F>
  void parallel(int64_t work_per_row, F&& chunk) const {
    parallel_for(count(), std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, work_per_row)),
                 chunk);
  }

 private:
  kernels::StridedPlan<N> others_;  // every dim but the row's, in elements
  Offsets length_{};
  Offsets stride_{};
};

}  // namespace mixgrad::cpu
