#pragma once
// One plan for walking N operands together through strided memory, shared by every backend (a
// small cousin of PyTorch's TensorIterator): CPU loops and odometers and CUDA offset calculators
// see the same dims. Size-1 dims are dropped, and a dim merges with its inner neighbour when they
// are contiguous for every operand, so index arithmetic runs over as few dims as possible;
// row-major positions are unchanged by both. Dims are held innermost first and inline up to 8 of
// them: planning and walking a small tensor allocates nothing.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

// GCC 12 at -O3 reports a memmove of small_vector's growth path as overflowing the inline buffer
// (a false positive, -Wstringop-overflow): silenced for boost's own code only.
#pragma GCC diagnostic push
#ifndef __clang__  // clang has no such warning, and warns about the unknown name
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
#include <boost/container/small_vector.hpp>
#pragma GCC diagnostic pop

#include "core/shape.h"
#include "core/tensor.h"

namespace mixgrad::kernels {

template <class T>
using PlanDims = boost::container::small_vector<T, 8>;

template <int N>
class StridedPlan {
 public:
  using Strides = std::array<int64_t, N>;

  // No dims: a single element.
  StridedPlan() = default;

  // The operands viewed with operands[0]'s sizes (a broadcast dim has stride 0 in its operand),
  // over the dims d for which keep(d) holds: a reduction plans its kept and its reduced dims
  // apart, a row-wise kernel the dims other than its row's. Operands may differ in size only at
  // dims left out.
  template <class Keep>
  StridedPlan(const std::array<const Tensor*, N>& operands, Keep&& keep) {
    const Shape& shape = operands[0]->shape();
    for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
      if (!keep(d)) continue;
      Strides st;
      for (int k = 0; k < N; ++k) st[k] = operands[k]->strides()[d];
      push_outer(shape[d], st);
    }
  }
  explicit StridedPlan(const std::array<const Tensor*, N>& operands)
      : StridedPlan(operands, [](int64_t) { return true; }) {}

  // Adds the next dim outwards: callers go from the innermost dim out.
  void push_outer(int64_t size, const Strides& st) {
    numel_ *= size;
    if (size == 1) return;
    // A size-0 dim stays apart: an empty tensor's strides need not line up, and nothing walks it.
    if (!sizes_.empty() && size != 0 && sizes_.back() != 0) {
      bool merge = true;
      for (int k = 0; k < N; ++k) merge = merge && st[k] == strides_.back()[k] * sizes_.back();
      if (merge) {
        sizes_.back() *= size;
        return;
      }
    }
    sizes_.push_back(size);
    strides_.push_back(st);
  }

  // Multiplies operand k's strides by `factor`: element strides become byte strides. Walks built
  // before copied the old strides in part, so this comes first.
  void scale(int k, int64_t factor) {
    for (Strides& st : strides_) st[k] *= factor;
  }

  int ndim() const { return static_cast<int>(sizes_.size()); }
  int64_t numel() const { return numel_; }
  // Dim d counts from the innermost one (d = 0).
  int64_t size(int d) const { return sizes_[d]; }
  int64_t stride(int d, int k) const { return strides_[d][k]; }
  int64_t inner_size() const { return sizes_.empty() ? 1 : sizes_[0]; }
  int64_t inner_stride(int k) const { return sizes_.empty() ? 0 : strides_[0][k]; }
  std::span<const int64_t> sizes() const { return {sizes_.data(), sizes_.size()}; }
  std::span<const Strides> strides() const { return {strides_.data(), strides_.size()}; }

  // One run of unit element strides for every operand: a flat loop needs no index arithmetic.
  bool contiguous() const {
    if (ndim() != 1) return ndim() == 0;
    for (int k = 0; k < N; ++k)
      if (strides_[0][k] != 1) return false;
    return true;
  }

  // Outermost dim first, as offset calculators (CUDA's StridedOffsets) take them.
  Shape outer_sizes() const { return Shape(sizes_.rbegin(), sizes_.rend()); }
  Shape outer_strides(int k) const {
    Shape out(sizes_.size());
    for (int d = 0; d < ndim(); ++d) out[ndim() - 1 - d] = strides_[d][k];
    return out;
  }

 private:
  PlanDims<int64_t> sizes_;
  PlanDims<Strides> strides_;
  int64_t numel_ = 1;
};

// An odometer over a plan: offset(k) is operand k's offset (in the plan's stride unit) at the
// current row-major position. It moves a run at a time, a run being the rest of the innermost
// dim, where offsets move by the inner strides alone. Walks with short runs carry once per run,
// so the two inner dims' indices, sizes and steps are plain members: a step and the common
// carry touch no per-dim array (whose accesses are bounds-checked in this project's release
// builds) and compute no products.
template <int N>
class StridedWalk {
 public:
  using Offsets = typename StridedPlan<N>::Strides;

  // Positioned at row-major position `start`; the plan must outlive the walk (a temporary plan
  // is refused) and keep its strides (scale() before any walk is built).
  StridedWalk(const StridedPlan<N>&& plan, int64_t start = 0) = delete;
  explicit StridedWalk(const StridedPlan<N>& plan, int64_t start = 0)
      : sizes_(plan.sizes()), strides_(plan.strides()), inner_size_(plan.inner_size()) {
    for (int k = 0; k < N; ++k) inner_[k] = plan.inner_stride(k);
    if (sizes_.size() > 1) {
      next_size_ = sizes_[1];
      for (int k = 0; k < N; ++k) wrap_[k] = strides_[1][k] - sizes_[0] * strides_[0][k];
    }
    if (sizes_.size() > 2) outer_.resize(sizes_.size() - 2);
    int64_t* outer = outer_.data();
    for (size_t d = 0; d < sizes_.size() && start > 0; ++d) {
      const int64_t i = start % sizes_[d];
      start /= sizes_[d];
      (d == 0 ? pos_ : d == 1 ? next_ : outer[d - 2]) = i;
      for (int k = 0; k < N; ++k) off_[k] += i * strides_[d][k];
    }
  }

  const Offsets& offsets() const { return off_; }
  int64_t offset(int k) const { return off_[k]; }
  // Positions left in the current run, counting the current one.
  int64_t run_left() const { return inner_size_ - pos_; }

  // Moves n <= run_left() positions on. Forced inline: callers advance once per run or per
  // element (a reduction's outputs), and GCC otherwise leaves a call per step.
  __attribute__((always_inline)) void advance(int64_t n) {
    pos_ += n;
    for (int k = 0; k < N; ++k) off_[k] += n * inner_[k];
    // A finished run moves dim 1 on, unless there is none (the end of a one-dim walk).
    if (pos_ < inner_size_ || next_size_ == 0) return;
    pos_ = 0;
    for (int k = 0; k < N; ++k) off_[k] += wrap_[k];
    if (++next_ == next_size_) carry_outer();
  }

  // Back to position 0: cheaper than a new walk where one walks many short slices.
  void restart() {
    pos_ = next_ = 0;
    std::fill(outer_.begin(), outer_.end(), 0);
    off_ = {};
  }

 private:
  // Dim 1 wrapped: it restarts and moves dim 2 on, and so on outwards. At the end of the walk
  // the outermost dim stays wrapped.
  void carry_outer() {
    const size_t nd = sizes_.size();
    if (nd < 3) return;
    int64_t* outer = outer_.data();
    next_ = 0;
    for (size_t d = 1; d + 1 < nd; ++d) {
      for (int k = 0; k < N; ++k) off_[k] += strides_[d + 1][k] - sizes_[d] * strides_[d][k];
      if (++outer[d - 1] < sizes_[d + 1] || d + 2 == nd) return;
      outer[d - 1] = 0;
    }
  }

  std::span<const int64_t> sizes_;
  std::span<const Offsets> strides_;
  int64_t inner_size_;
  Offsets inner_{};
  int64_t next_size_ = 0;  // dim 1's size, 0 when there is no dim 1
  Offsets wrap_{};         // the offsets' move from the end of a run to the next run's start
  int64_t pos_ = 0, next_ = 0;
  PlanDims<int64_t> outer_;  // indices of dims 2 and up
  Offsets off_{};
};

}  // namespace mixgrad::kernels
