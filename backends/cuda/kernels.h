#pragma once
// CUDA implementations of the primitive kernels (see backends/kernels.h for their contracts).
#include "backends/kernels.h"

namespace mixgrad::cuda {

void register_kernels();

MIXGRAD_FOR_EACH_BACKEND_KERNEL(MIXGRAD_DECLARE_KERNEL)

}  // namespace mixgrad::cuda
