#include "ops/optimizer_steps.h"

#include <cmath>

#include "core/error.h"
#include "core/grad_mode.h"
#include "ops/elementwise.h"

namespace mixgrad {

namespace {

void check_state(const Tensor& param, const Tensor& t, const char* name) {
  MG_CHECK(t.defined(), "adam_step_", name, " is undefined");
  MG_CHECK(t.shape() == param.shape() && t.dtype() == param.dtype() && t.device() == param.device(),
           "adam_step_", name, " must match the parameter ", describe(param), ", got ",
           describe(t));
}

// The same update as tensor ops, for devices without the fused kernel and strided tensors. The
// handles are copies: in-place methods need non-const handles (to the same storage).
void adam_step_composite(Tensor param, const Tensor& grad, Tensor m, Tensor v, Tensor v_max,
                         const kernels::AdamStep& s) {
  const Tensor g = s.l2 != 0 ? add(grad, param, s.l2) : grad;
  if (s.decay != 0) param.mul_(1 - s.decay);
  m.mul_(s.beta1).add_(g, 1 - s.beta1);
  v.mul_(s.beta2).add_(square(g), 1 - s.beta2);
  Tensor second_moment = v;
  if (s.amsgrad) {
    v_max.copy_(maximum(v_max, v));
    second_moment = v_max;
  }
  Tensor denom = sqrt(second_moment);
  denom.div_(s.bias_correction2_sqrt).add_(s.eps);
  param.sub_(m / denom, s.step_size);
}

}  // namespace

void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                const Tensor& exp_avg_sq, const Tensor& max_exp_avg_sq,
                const kernels::AdamStep& step) {
  MG_CHECK(param.defined() && is_floating(param.dtype()), "adam_step_",
           "the parameter must be a floating tensor, got ", describe(param));
  check_state(param, grad, "grad");
  check_state(param, exp_avg, "exp_avg");
  check_state(param, exp_avg_sq, "exp_avg_sq");
  if (step.amsgrad) check_state(param, max_exp_avg_sq, "max_exp_avg_sq");
  NoGradGuard no_grad;
  const bool fused = kernels::adam_step.has(param.device()) && param.is_contiguous() &&
                     grad.is_contiguous() && exp_avg.is_contiguous() &&
                     exp_avg_sq.is_contiguous() &&
                     (!step.amsgrad || max_exp_avg_sq.is_contiguous());
  if (fused) {
    kernels::adam_step(param.device(), param, grad, exp_avg, exp_avg_sq,
                       step.amsgrad ? max_exp_avg_sq : Tensor(), step);
    // As every in-place op does: a tensor saved for backward and then overwritten is caught.
    for (const Tensor* t : {&param, &exp_avg, &exp_avg_sq}) t->storage()->bump_version();
    if (step.amsgrad) max_exp_avg_sq.storage()->bump_version();
  } else {
    adam_step_composite(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step);
  }
}

}  // namespace mixgrad
