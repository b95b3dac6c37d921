#pragma once
// Copies and conversions: contiguous, clone, copy_, to(dtype), to(device).
#include "core/tensor.h"

namespace mixgrad {

// x itself when already contiguous, otherwise a dense row-major copy.
Tensor contiguous(const Tensor& x);
// A dense copy with its own storage (differentiable).
Tensor clone(const Tensor& x);
// Writes src (broadcast to self's shape, converted to self's dtype) into self; a src over part of
// self's memory (a shifted view) is read through a temporary, as in PyTorch.
Tensor& copy_(Tensor& self, const Tensor& src);
// Converts dtype (x itself when it already has it). Gradients flow back between float dtypes.
Tensor to(const Tensor& x, DType dtype);
// Moves to another device (x itself when already there).
Tensor to(const Tensor& x, Device device);

}  // namespace mixgrad
