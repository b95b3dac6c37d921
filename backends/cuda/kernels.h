#pragma once
// CUDA implementations of the primitive kernels (see backends/kernels.h for their contracts).
#include "backends/kernels.h"

namespace mixgrad::cuda {

// Registers the kernels, the device allocator and the runtime hooks (register.cpp runs it as the
// program starts).
void register_backend();

MIXGRAD_FOR_EACH_BACKEND_KERNEL(MIXGRAD_DECLARE_KERNEL)

}  // namespace mixgrad::cuda
