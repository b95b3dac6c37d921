#pragma once
// Reductions over any set of dims (negative dims count from the end; an empty dim list means
// all dims), with keepdim. Sums of bool/int32 tensors are int64, as in PyTorch.
#include <optional>

#include "core/tensor.h"

namespace mixgrad {

Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor prod(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
// Largest / smallest element of the whole tensor (gradient split evenly among ties).
Tensor max(const Tensor& x);
Tensor min(const Tensor& x);
// Values and int64 indices along one dim (the first occurrence wins ties).
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim = false);
// Max / min values over several dims (gradient split evenly among ties).
Tensor amax(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
// Index of the max / min along `dim`, or of the flattened tensor when dim is omitted.
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
// Variance with `correction` (1 = unbiased, Bessel; 0 = biased).
Tensor var(const Tensor& x, const Shape& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor std(const Tensor& x, const Shape& dims = {}, int64_t correction = 1, bool keepdim = false);
// log(sum(exp(x))) computed stably (max subtracted first).
Tensor logsumexp(const Tensor& x, const Shape& dims, bool keepdim = false);
// p-norm (p = 2 by default; p = inf gives the max-abs norm).
Tensor norm(const Tensor& x, double p = 2.0, const Shape& dims = {}, bool keepdim = false);
// Whether any / all elements are non-zero (bool).
Tensor any(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor all(const Tensor& x, const Shape& dims = {}, bool keepdim = false);

namespace detail {
// Normalises `dims` for x (wraps negatives, sorts, rejects repeats; empty = all dims).
Shape reduction_dims(const Tensor& x, const Shape& dims, const char* op);
// Shape of a reduction result with keepdim=true.
Shape keepdim_shape(const Tensor& x, const Shape& dims);
// Removes the reduced dims of a keepdim-shaped result unless keepdim.
Tensor squeeze_dims(const Tensor& r, const Shape& dims, bool keepdim);
// Re-inserts reduced dims (size 1) into a gradient so it broadcasts against the input.
Tensor unsqueeze_dims(const Tensor& g, const Shape& dims, bool keepdim);
}  // namespace detail

}  // namespace mixgrad
