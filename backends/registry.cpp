#include "backends/cpu/kernels.h"
#include "backends/kernels.h"

namespace mixgrad::kernels {

// The CPU backend is part of the library. Other backends are libraries of their own that
// register themselves when a program links them (backends/cuda/register.cpp).
void ensure_backends_registered() {
  static const bool registered = [] {
    cpu::register_kernels();
    return true;
  }();
  (void)registered;
}

}  // namespace mixgrad::kernels
