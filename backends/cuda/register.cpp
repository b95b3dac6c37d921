#include "backends/cuda/allocator.h"
#include "backends/cuda/kernels.h"

namespace mixgrad::cuda {

void register_kernels() {
  constexpr DeviceType t = DeviceType::CUDA;
  register_allocator(t, device_allocator_for_registry);
  MIXGRAD_FOR_EACH_BACKEND_KERNEL(MIXGRAD_REGISTER_KERNEL)
}

}  // namespace mixgrad::cuda
