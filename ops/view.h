#pragma once
// View ops: results share storage with their input (no copy), except reshape/flatten of a
// layout that no view can express. Their backward accumulates into the matching region of the
// input's gradient buffer (never a zero-filled full-size temporary per use).
#include <optional>

#include "core/tensor.h"

namespace mixgrad {

// Same data, new shape (one dim may be -1); throws if the layout cannot be viewed that way.
Tensor view(const Tensor& x, const Shape& shape);
// Like view when possible, otherwise a contiguous copy.
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor permute(const Tensor& x, const Shape& dims);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
// Transpose of a tensor with <= 2 dims.
Tensor t(const Tensor& x);
// `length` elements of `dim` starting at `start` (negative start counts from the end).
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
// Python-style x[start:end:step] along `dim`; out-of-range bounds are clamped, step > 0.
Tensor slice(const Tensor& x, int64_t dim, std::optional<int64_t> start = std::nullopt,
             std::optional<int64_t> end = std::nullopt, int64_t step = 1);
// Removes `dim` by taking element `index` (negative counts from the end).
Tensor select(const Tensor& x, int64_t dim, int64_t index);
// Broadcasts size-1 dims (and new leading dims) to `shape`; -1 keeps a size.
Tensor expand(const Tensor& x, const Shape& shape);
Tensor squeeze(const Tensor& x);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor unflatten(const Tensor& x, int64_t dim, const Shape& sizes);
// torch.diagonal: the elements x[..., i, ..., i + offset, ...] of dims dim1 and dim2 (offset > 0
// above the main diagonal, < 0 below), as a view with both dims removed and the diagonal appended
// as the last dim (empty when offset lies outside the matrix). Throws if x has fewer than 2 dims,
// dim1 == dim2, or either is out of range.
Tensor diagonal(const Tensor& x, int64_t offset = 0, int64_t dim1 = 0, int64_t dim2 = 1);
// Raw view of x's storage; not differentiable.
Tensor as_strided(const Tensor& x, const Shape& sizes, const Shape& strides,
                  std::optional<int64_t> storage_offset = std::nullopt);

}  // namespace mixgrad
