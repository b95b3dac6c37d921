#include "backends/cpu/blas.h"
#include "backends/cpu/kernels.h"

namespace mixgrad::cpu {

void register_kernels() {
  use_cpu_blas_kernels();
  constexpr DeviceType t = DeviceType::CPU;
  MIXGRAD_FOR_EACH_BACKEND_KERNEL(MIXGRAD_REGISTER_KERNEL)
  kernels::winograd.set(t, winograd);
  kernels::adam_step.set(t, adam_step);
  kernels::attention_forward.set(t, attention_forward);
  kernels::attention_backward.set(t, attention_backward);
  kernels::rms_norm.set(t, rms_norm);
  kernels::rms_norm_backward.set(t, rms_norm_backward);
  kernels::rotary.set(t, rotary);
}

}  // namespace mixgrad::cpu
