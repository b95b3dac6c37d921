#pragma once
// Forward helpers shared by the element-wise op files: promotion, broadcasting, allocation and
// the kernel call, done once here so each op is only its math and its backward.
#include "backends/kernels.h"
#include "core/tensor.h"

namespace mixgrad::detail {

// Output dtype of a unary op on x (integers become the default float for float-only ops).
DType unary_compute_dtype(kernels::UnaryOp op, const Tensor& x);
Tensor unary_forward(kernels::UnaryOp op, const Tensor& x, kernels::OpParams params = {});

// Operands converted to `dtype`, moved next to each other, and expanded to their common shape.
struct Broadcast {
  Tensor a, b;
  Shape shape;
};
// The dtype a binary op computes in: the promoted dtype of a and b (result_type), the default
// float where the op needs a float and both are integral.
DType binary_compute_dtype(kernels::BinaryOp op, const Tensor& a, const Tensor& b);
Broadcast broadcast_operands(const char* op, const Tensor& a, const Tensor& b, DType dtype);
// Output allocated here unless `out` is given (in-place forms pass self).
Tensor binary_forward(const char* op, kernels::BinaryOp code, const Tensor& a, const Tensor& b,
                      kernels::OpParams params = {}, Tensor out = Tensor());

}  // namespace mixgrad::detail
