#pragma once
// Scans: the running sum, product, maximum, minimum and log-sum-exp along one dim (PyTorch's
// cumsum, cumprod, cummax, cummin and logcumsumexp), all through one kernel (kernels::scan) as
// the reductions go through kernels::reduce. Each takes a dim in [-ndim, ndim) (a 0-dim tensor
// takes 0 or -1 and gives itself) and is differentiable in a floating x. On CUDA only cumsum runs
// so far; the others throw Error there.
#include "core/tensor.h"

namespace mixgrad {

// Running sum along `dim`. Integer and bool inputs give int64 (as in PyTorch).
Tensor cumsum(const Tensor& x, int64_t dim);

// Running product along `dim`. Integer and bool inputs give int64. The gradient is exact where x
// has zeros (a position after the first zero of its line gets none; the first zero gets the
// products of the other factors).
Tensor cumprod(const Tensor& x, int64_t dim);

// Running maximum along `dim` (values in x's dtype) and its position (int64): on ties the latest
// position, and NaN propagates (the latest NaN's position). The gradient of each output goes to
// its position.
ValuesIndices cummax(const Tensor& x, int64_t dim);

// Running minimum along `dim`, as cummax.
ValuesIndices cummin(const Tensor& x, int64_t dim);

// log(cumsum(exp(x))) along `dim`, without overflow (accumulated in double). Floating x only.
Tensor logcumsumexp(const Tensor& x, int64_t dim);

}  // namespace mixgrad
