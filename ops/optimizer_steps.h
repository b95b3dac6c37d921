#pragma once
// Optimizer updates as in-place ops on a parameter and its state tensors (nothing is recorded
// for autograd). One fused pass per parameter where the backend has the kernel and the tensors
// are contiguous and of one dtype; the same arithmetic as tensor ops otherwise.
#include "backends/kernels.h"
#include "core/tensor.h"

namespace mixgrad {

// One Adam / AdamW step (see kernels::AdamStep for the update) on `param` with gradient `grad`,
// updating exp_avg, exp_avg_sq and, with step.amsgrad, max_exp_avg_sq in place. Throws Error
// unless every tensor is defined (max_exp_avg_sq only with amsgrad), floating, of param's shape,
// dtype and device.
void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                const Tensor& exp_avg_sq, const Tensor& max_exp_avg_sq,
                const kernels::AdamStep& step);

}  // namespace mixgrad
