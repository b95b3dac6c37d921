#include "backends/cpu/kernels.h"
#include "backends/kernels.h"

namespace mixgrad::kernels {

void ensure_backends_registered() {
  static const bool registered = [] {
    cpu::register_kernels();
    return true;
  }();
  (void)registered;
}

}  // namespace mixgrad::kernels
