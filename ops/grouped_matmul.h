#pragma once
// Grouped matrix product: the rows of x are sorted into contiguous groups, and each group is
// multiplied by its own weight matrix from a stacked w. This is a mixture-of-experts layer's
// expert computation in one op: no per-expert loop of small ops, no padding to a common size.
#include "core/tensor.h"

namespace mixgrad {

// y[rows of g] = x[rows of g] @ w[g] for x [N, in], w [G, in, out], giving y [N, out]. Group g
// covers the group_sizes[g] rows after those of groups 0..g-1; group_sizes is int64 [G],
// non-negative, summing to N, on the CPU or on x's device (it is read on the host, so a
// device tensor costs one sync). Empty groups
// are allowed. Differentiable in x and w (not in group_sizes).
// Throws Error when x is not 2-D or w not 3-D, x and w differ in dtype or device or are not
// floating, x's width is not w's in dim, group_sizes is not a 1-D int64 tensor of G
// elements, a size is negative, or the sizes do not sum to N.
Tensor grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& group_sizes);
// As above plus bias[g] added to every row of group g, for bias [G, out] of x's dtype;
// also differentiable in bias. Throws Error as above, or when bias's shape or dtype is wrong.
Tensor grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& group_sizes,
                      const Tensor& bias);

}  // namespace mixgrad
