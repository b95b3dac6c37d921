#pragma once
// Sorting and selection. Indices are int64.
#include "core/tensor.h"

namespace mixgrad {

// The k largest (or smallest) elements along `dim` and their indices; `sorted` orders them
// (descending for largest). Any k in [0, size]. Backward scatters into the input's shape.
ValuesIndices topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true,
                   bool sorted = true);
// Sorted values and the permutation along `dim`; `stable` keeps equal elements in input order.
ValuesIndices sort(const Tensor& x, int64_t dim = -1, bool descending = false, bool stable = false);
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false, bool stable = false);

}  // namespace mixgrad
