#pragma once
// Dims walked together by N tensors: sizes plus each tensor's strides, outermost first. Size-1
// dims are dropped and an inner dim merges into its outer neighbour when that is contiguous for
// every tensor, so index arithmetic (odometers on the CPU, offset calculators on CUDA) runs over
// as few dims as possible. Row-major positions are unchanged by both.
#include <array>
#include <cstdint>

#include "core/shape.h"

namespace mixgrad::kernels {

template <int N>
struct MergedDims {
  Shape sizes;
  std::array<Shape, N> strides;

  void push(int64_t size, const std::array<int64_t, N>& st) {
    if (size == 1) return;
    if (!sizes.empty() && sizes.back() != 0 && size != 0) {
      bool merge = true;
      for (int k = 0; k < N; ++k) merge = merge && strides[k].back() == st[k] * size;
      if (merge) {
        sizes.back() *= size;
        for (int k = 0; k < N; ++k) strides[k].back() = st[k];
        return;
      }
    }
    sizes.push_back(size);
    for (int k = 0; k < N; ++k) strides[k].push_back(st[k]);
  }
  int64_t numel() const { return numel_of(sizes); }
  int ndim() const { return static_cast<int>(sizes.size()); }
  int64_t inner_size() const { return sizes.empty() ? 1 : sizes.back(); }
  int64_t inner_stride(int k) const { return sizes.empty() ? 0 : strides[k].back(); }
};

}  // namespace mixgrad::kernels
