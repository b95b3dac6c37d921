#pragma once
// Index ops. Index tensors are int64 or int32; every index is checked against the size it
// indexes (negative indices are rejected, except where noted), and a bad one is reported as a
// mixgrad::Error naming the op, the index value and the valid range.
#include <vector>

#include "core/tensor.h"

namespace mixgrad {

// out[i][j] = x[index[i][j]][j] for dim 0 (likewise for any dim); index has x's ndim and
// index.size(d) <= x.size(d) for d != dim. Backward scatter-adds.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// Copy of x with x[index[i][j]][j] = src[i][j] (dim 0); src may be a number.
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// Copy of x with x[index[i][j]][j] += src[i][j] (dim 0).
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor& scatter_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor& scatter_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// Slices of x along `dim` at the 1-D `index` positions. Backward index_adds.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// Copy of x with alpha * src.select(dim, i) added at x.select(dim, index[i]); repeats add up.
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src,
                 Scalar alpha = 1);
Tensor& index_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src,
                   Scalar alpha = 1);
// Advanced indexing x[indices[0], indices[1], ...] (index tensors broadcast together; the
// leading dims of x are indexed, the rest are kept). Negative indices count from the end.
Tensor index(const Tensor& x, const std::vector<Tensor>& indices);
// Copy of x with x[indices...] = values (or += with accumulate, where repeats add up).
Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                 bool accumulate = false);
Tensor& index_put_(Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                   bool accumulate = false);
// Counts of each non-negative value of the 1-D int tensor x (weighted sums if weights given);
// length max(x) + 1, at least minlength.
Tensor bincount(const Tensor& x, const Tensor& weights = Tensor(), int64_t minlength = 0);
// [..., num_classes] int64 one-hot encoding (num_classes = max + 1 when -1).
Tensor one_hot(const Tensor& x, int64_t num_classes = -1);
// Coordinates of the non-zero elements: int64 [count, ndim].
Tensor nonzero(const Tensor& x);
// x's elements where mask is true, flattened (differentiable).
Tensor masked_select(const Tensor& x, const Tensor& mask);

}  // namespace mixgrad
