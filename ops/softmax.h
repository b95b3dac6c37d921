#pragma once
// Softmax along a dim, numerically stable (the row max is subtracted), one fused kernel each way.
#include "core/tensor.h"

namespace mixgrad {

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

}  // namespace mixgrad
