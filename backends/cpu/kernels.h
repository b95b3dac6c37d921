#pragma once
// CPU implementations of the primitive kernels (see backends/kernels.h for their contracts).
#include "backends/kernels.h"

namespace mixgrad::cpu {

void register_kernels();

MIXGRAD_FOR_EACH_BACKEND_KERNEL(MIXGRAD_DECLARE_KERNEL)

// CPU-only kernels (declared in backends/kernels.h; called on the CPU only).
void winograd(const Tensor& out, const Tensor& in, kernels::WinogradTransform transform,
              const kernels::ConvGeometry& geometry);
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, const Tensor& max_exp_avg_sq,
               const kernels::AdamStep& step);
void rms_norm(const Tensor& out, const Tensor& rstd, const Tensor& x, const Tensor& weight,
              double eps);
void rms_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dy, const Tensor& x,
                       const Tensor& weight, const Tensor& rstd);
void rotary(const Tensor& out, const Tensor& x, const Tensor& cos, const Tensor& sin,
            bool interleaved, bool inverse);
void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                       const Tensor& v, const Tensor& mask, const kernels::AttentionParams& params);
void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                        const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                        const Tensor& lse, const Tensor& mask,
                        const kernels::AttentionParams& params);

}  // namespace mixgrad::cpu
