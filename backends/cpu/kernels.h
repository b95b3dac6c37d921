#pragma once
// CPU implementations of the primitive kernels (see backends/kernels.h for their contracts).
#include "backends/kernels.h"

namespace mixgrad::cpu {

void register_kernels();

MIXGRAD_FOR_EACH_BACKEND_KERNEL(MIXGRAD_DECLARE_KERNEL)

// CPU-only kernels (declared in backends/kernels.h; ops call them on the CPU only).
void conv2d_direct(const Tensor& out, const Tensor& input, const Tensor& weight, const Tensor& bias,
                   const kernels::ConvGeometry& geometry);
void conv2d_direct_weight_grad(const Tensor& grad_weight, const Tensor& grad_out,
                               const Tensor& input, const kernels::ConvGeometry& geometry);
void winograd(const Tensor& out, const Tensor& in, kernels::WinogradTransform transform,
              const kernels::ConvGeometry& geometry);
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, const Tensor& max_exp_avg_sq,
               const kernels::AdamStep& step);

}  // namespace mixgrad::cpu
