#include "models/phase_function.h"

#include <numbers>

#include "ops/ops.h"

namespace mixgrad::models {
namespace {

// v mod m for a float tensor of whole numbers (or any reals), in [0, m).
Tensor wrap(const Tensor& v, double m) {
  return v - floor(v / m) * m;
}

}  // namespace

Tensor phase_function(const Tensor& control, const Tensor& phase) {
  MG_CHECK(control.dim() >= 1 && control.size(0) == 4, "phase_function",
           "control weights must be [4, ...] (four sets round the phase circle), got shape ",
           control.shape());
  MG_CHECK(control.is_floating_point(), "phase_function", "control weights must be floating, got ",
           control.dtype());
  MG_CHECK(phase.dim() == 1 && phase.dtype() == control.dtype(), "phase_function",
           "phase must be a 1-D ", control.dtype(), " tensor, got ", describe(phase));
  const Tensor w = wrap(phase * (4.0 / (2.0 * std::numbers::pi)), 4.0);
  const Tensor k = floor(w);
  const Tensor mu = w - k;
  const Tensor mu2 = mu * mu;
  const Tensor mu3 = mu2 * mu;
  const Tensor coefficients[4] = {
      mu * -0.5 + mu2 - mu3 * 0.5,
      1.0 - mu2 * 2.5 + mu3 * 1.5,
      mu * 0.5 + mu2 * 2.0 - mu3 * 1.5,
      mu2 * -0.5 + mu3 * 0.5,
  };
  // Sample b's coefficient broadcast over the trailing dims of one control set.
  Shape coefficient_shape(static_cast<std::size_t>(control.dim()), 1);
  coefficient_shape[0] = phase.size(0);
  Tensor result;
  for (int j = 0; j < 4; ++j) {
    const Tensor set_index = wrap(k + static_cast<double>(j + 3), 4.0).to(DType::Int64);
    Tensor term = index_select(control, 0, set_index) * coefficients[j].reshape(coefficient_shape);
    result = result.defined() ? result + term : term;
  }
  return result;
}

}  // namespace mixgrad::models
