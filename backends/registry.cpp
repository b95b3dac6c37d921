#include "backends/cpu/kernels.h"
#include "backends/kernels.h"
#ifdef MIXGRAD_WITH_CUDA
#include "backends/cuda/kernels.h"
#endif

namespace mixgrad::kernels {

void ensure_backends_registered() {
  static const bool registered = [] {
    cpu::register_kernels();
#ifdef MIXGRAD_WITH_CUDA
    cuda::register_kernels();  // kernels and allocator; a machine without a GPU fails at allocation
#endif
    return true;
  }();
  (void)registered;
}

}  // namespace mixgrad::kernels
