// Linking mixgrad::cuda registers the backend as the program starts. Nothing calls into this
// file, so the library's link interface names the symbol below (-Wl,--undefined) and the linker
// keeps it; a program that does not link mixgrad::cuda gets no CUDA library at all.
#include "backends/cuda/allocator.h"
#include "backends/cuda/kernels.h"
#include "backends/cuda/runtime.h"

namespace mixgrad::cuda {

void register_backend() {
  constexpr DeviceType t = DeviceType::CUDA;
  register_allocator(t, device_allocator_for_registry);
  MIXGRAD_FOR_EACH_BACKEND_KERNEL(MIXGRAD_REGISTER_KERNEL)
  backend_hooks::install_runtime_hooks(&runtime_hooks());
}

}  // namespace mixgrad::cuda

// The kernel tables are constant-initialised (kernels::Kernel has a constexpr constructor), so
// filling them from a static initialiser cannot run before they exist.
extern "C" {
extern const bool mixgrad_cuda_backend_registered;
const bool mixgrad_cuda_backend_registered = (mixgrad::cuda::register_backend(), true);
}
