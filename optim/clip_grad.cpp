#include "optim/clip_grad.h"

#include <cmath>

#include "core/grad_mode.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "optim/state_text.h"
#include "optim/tensor_checks.h"

namespace mixgrad::optim {

namespace {

// The defined gradients of `params`; throws Error(op) for an undefined parameter or a gradient
// that cannot be written in place, before any gradient changes.
std::vector<Tensor> gradients(const std::vector<Tensor>& params, const char* op) {
  std::vector<Tensor> grads;
  for (size_t i = 0; i < params.size(); ++i) {
    MG_CHECK(params[i].defined(), op, "parameter ", i, " is an undefined tensor");
    Tensor g = params[i].grad();
    if (!g.defined()) continue;
    MG_CHECK(!detail::has_overlapping_elements(g), op, "the gradient of parameter ", i, " (shape ",
             g.shape(), ", strides ", g.strides(),
             ") has elements that overlap in memory and cannot be scaled in place");
    grads.push_back(std::move(g));
  }
  return grads;
}

}  // namespace

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type,
                      bool error_if_nonfinite) {
  constexpr const char* op = "clip_grad_norm";
  MG_CHECK(max_norm >= 0, op, "max_norm = ", detail::format_double(max_norm), " must be >= 0");
  const bool max_abs = std::isinf(norm_type) && norm_type > 0;
  MG_CHECK(max_abs || (std::isfinite(norm_type) && norm_type > 0), op,
           "norm_type = ", detail::format_double(norm_type), " must be > 0 (or +infinity)");
  NoGradGuard no_grad;
  const std::vector<Tensor> grads = gradients(params, op);
  // Per-tensor norms in the gradients' dtype, combined in double.
  double total = 0;
  for (const Tensor& g : grads) {
    if (g.numel() == 0) continue;
    const double n = norm(g, norm_type).item<double>();
    if (max_abs)
      total = std::isnan(n) || n > total ? n : total;
    else
      total += norm_type == 2 ? n * n : std::pow(n, norm_type);
  }
  if (!max_abs) total = norm_type == 2 ? std::sqrt(total) : std::pow(total, 1 / norm_type);
  MG_CHECK(std::isfinite(total) || !error_if_nonfinite, op, "the total norm of order ",
           detail::format_double(norm_type), " of the gradients is ", detail::format_double(total),
           ", so they cannot be clipped");
  const double coefficient = max_norm / (total + 1e-6);
  if (!(coefficient >= 1))  // NaN scales too, as in PyTorch
    for (Tensor g : grads) g.mul_(coefficient);
  return total;
}

void clip_grad_value(const std::vector<Tensor>& params, double clip_value) {
  constexpr const char* op = "clip_grad_value";
  MG_CHECK(clip_value >= 0, op, "clip_value = ", detail::format_double(clip_value),
           " must be >= 0");
  NoGradGuard no_grad;
  for (Tensor g : gradients(params, op)) g.clamp_(-clip_value, clip_value);
}

}  // namespace mixgrad::optim
