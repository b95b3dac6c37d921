#pragma once
// Root-mean-square normalisation (Zhang & Sennrich 2019; LLaMA's and Mixtral's norm), fused: one
// pass forward, one backward, the per-row reciprocal RMS saved in between.
#include "core/tensor.h"

namespace mixgrad {

// x / sqrt(mean(x^2 over the last dim) + eps) * weight, as PyTorch's F.rms_norm over the last
// dim. x [..., D]; weight [D] of x's dtype and device, or undefined (no scale). Differentiable in
// x and weight. Throws Error for a 0-dim or non-floating x, a weight of another shape, dtype or
// device, or a negative eps.
Tensor rms_norm(const Tensor& x, const Tensor& weight = Tensor(), double eps = 1e-6);

// The same function composed of square, mean, rsqrt and mul (differentiated by autograd): what
// devices without the fused kernel (CUDA) run, and the reference the fused path is tested
// against. Same checks.
Tensor rms_norm_reference(const Tensor& x, const Tensor& weight = Tensor(), double eps = 1e-6);

}  // namespace mixgrad
