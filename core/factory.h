#pragma once
// The tensor factories that only allocate or wrap memory, and the options every factory takes.
// They are core's, so that backends can make their outputs and scratch tensors without reaching
// up into ops; the factories that fill values (zeros, rand, tensor, ...) are in ops/creation.h.
#include <functional>
#include <optional>

#include "core/tensor.h"

namespace mixgrad {

struct TensorOptions {
  std::optional<DType> dtype_;
  Device device_ = Device::cpu();
  bool requires_grad_ = false;

  TensorOptions() = default;
  TensorOptions(DType d) : dtype_(d) {}    // NOLINT: zeros({2}, kFloat64)
  TensorOptions(Device d) : device_(d) {}  // NOLINT: zeros({2}, Device::cuda())
  TensorOptions& dtype(DType d) {
    dtype_ = d;
    return *this;
  }
  TensorOptions& device(Device d) {
    device_ = d;
    return *this;
  }
  TensorOptions& requires_grad(bool r = true) {
    requires_grad_ = r;
    return *this;
  }
  DType dtype_or(DType fallback) const { return dtype_.value_or(fallback); }
};

// The dtype and device of `t`: the options of a tensor made to go with it.
inline TensorOptions options_of(const Tensor& t) {
  return TensorOptions(t.dtype()).device(t.device());
}

// Uninitialised memory (from the caching allocator).
Tensor empty(const Shape& shape, TensorOptions options = {});
// A tensor with the given shape and strides over fresh storage large enough for them.
Tensor empty_strided(const Shape& shape, const Shape& strides, TensorOptions options = {});
Tensor empty_like(const Tensor& t, std::optional<DType> dtype = std::nullopt);

// Wraps memory the caller owns (no copy). `deleter` (optional) runs when the last view dies.
Tensor from_blob(void* data, const Shape& shape, DType dtype,
                 std::function<void(void*)> deleter = nullptr,
                 std::optional<Shape> strides = std::nullopt, Device device = Device::cpu());

}  // namespace mixgrad
