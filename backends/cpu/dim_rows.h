#pragma once
// Row-wise CPU kernels (softmax, sort, topk) see their operands as rows along one dim: each index
// of the other dims names one row, whose elements sit stride(k) elements apart in operand k.
// Operands may differ in length along that dim (topk's outputs hold k elements) but agree on
// every other dim. A 0-dim operand is a single row of one element.
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "backends/cpu/parallel.h"
#include "core/tensor.h"

namespace mixgrad::cpu {

template <int N>
class DimRows {
 public:
  using Offsets = std::array<int64_t, N>;

  DimRows(const std::array<const Tensor*, N>& operands, int64_t dim) {
    const Tensor& first = *operands[0];
    for (int k = 0; k < N; ++k) {
      const bool scalar = operands[k]->dim() == 0;
      length_[k] = scalar ? 1 : operands[k]->shape()[dim];
      stride_[k] = scalar ? 1 : operands[k]->strides()[dim];
    }
    // The other dims, innermost first; size-1 dims never move the odometer.
    for (int64_t d = first.dim() - 1; d >= 0; --d) {
      if (d == dim || first.shape()[d] == 1) continue;
      sizes_.push_back(first.shape()[d]);
      Offsets st;
      for (int k = 0; k < N; ++k) st[k] = operands[k]->strides()[d];
      strides_.push_back(st);
    }
    count_ = 1;
    for (int64_t s : sizes_) count_ *= s;
  }

  int64_t count() const { return count_; }
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
    const int nd = static_cast<int>(sizes_.size());
    std::vector<int64_t> idx(nd);
    Offsets off{};
    int64_t rem = begin;
    for (int d = 0; d < nd; ++d) {
      idx[d] = rem % sizes_[d];
      rem /= sizes_[d];
      for (int k = 0; k < N; ++k) off[k] += idx[d] * strides_[d][k];
    }
    for (int64_t r = begin; r < end;) {
      const int64_t count = std::min({max_tile, end - r, nd > 0 ? sizes_[0] - idx[0] : 1});
      tile(off, count);
      r += count;
      if (nd == 0) continue;
      for (int k = 0; k < N; ++k) off[k] += count * strides_[0][k];
      idx[0] += count;
      // Carry: a dim that wrapped restarts and moves the next one on by one.
      for (int d = 0; d < nd && idx[d] == sizes_[d]; ++d) {
        for (int k = 0; k < N; ++k) off[k] -= sizes_[d] * strides_[d][k];
        idx[d] = 0;
        if (d + 1 == nd) break;
        ++idx[d + 1];
        for (int k = 0; k < N; ++k) off[k] += strides_[d + 1][k];
      }
    }
  }

  // Offset between neighbouring rows of a tile in operand k.
  int64_t tile_stride(int k) const { return sizes_.empty() ? 0 : strides_[0][k]; }

  // Splits the rows across threads so that each gets at least kGrainSize units of work, given
  // the cost of one row; chunk(begin, end) runs once per thread, so per-thread scratch memory
  // belongs at its top, outside the per-row loop.
  template <class F>
  void parallel(int64_t work_per_row, F&& chunk) const {
    parallel_for(count_, std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, work_per_row)),
                 chunk);
  }

 private:
  Offsets length_{};
  Offsets stride_{};
  std::vector<int64_t> sizes_;    // innermost first, the row dim and size-1 dims left out
  std::vector<Offsets> strides_;  // elements, matching sizes_
  int64_t count_ = 0;
};

}  // namespace mixgrad::cpu
