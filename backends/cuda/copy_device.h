#pragma once
// Copies between tensors of one CUDA device, the base the CUDA copy kernel builds host<->device
// transfers on.
#include "core/tensor.h"

namespace mixgrad::cuda {

// dst[...] = src[...] converted to dst's dtype (any pair, float16/bfloat16 and bool included);
// dst and src on the same CUDA device with src of dst's shape, any strides (stride 0 for
// broadcast dims). Asynchronous on dst's stream.
void copy_on_device(const Tensor& dst, const Tensor& src);

}  // namespace mixgrad::cuda
