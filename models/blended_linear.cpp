#include "models/blended_linear.h"

#include <cmath>

#include "core/grad_mode.h"
#include "ops/ops.h"

namespace mixgrad::models {

BlendedLinear::BlendedLinear(int64_t in_features, int64_t out_features, int64_t num_experts,
                             Options options)
    : options_(options) {
  MG_CHECK(in_features > 0 && out_features > 0 && num_experts > 0, "BlendedLinear",
           "sizes must be positive, got in=", in_features, " out=", out_features,
           " experts=", num_experts);
  TensorOptions tensor_options = options.tensor_options;
  tensor_options.requires_grad_ = false;  // parameters become leaves on registration
  const double bound = std::sqrt(6.0 / static_cast<double>(out_features * in_features));
  NoGradGuard no_grad;
  weight = register_parameter(
      "weight",
      empty({num_experts, out_features, in_features}, tensor_options).uniform_(-bound, bound));
  if (options.bias) {
    bias = register_parameter("bias", zeros({num_experts, out_features}, tensor_options));
  }
}

Tensor BlendedLinear::operator()(const Tensor& x, const Tensor& alpha) {
  return call_hooked(
      [this](const Tensor& in, const Tensor& a) { return forward(in, a, options_.mode); }, x,
      alpha);
}

Tensor BlendedLinear::forward(const Tensor& x, const Tensor& alpha, BlendMode mode) {
  const int64_t experts = weight.size(0), out = weight.size(1), in = weight.size(2);
  MG_CHECK(x.dim() == 2 && x.size(1) == in, "BlendedLinear", "input must be [batch, ", in,
           "], got ", describe(x));
  MG_CHECK(alpha.dim() == 2 && alpha.size(0) == x.size(0) && alpha.size(1) == experts,
           "BlendedLinear", "blending coefficients must be [", x.size(0), ", ", experts,
           "] for input ", describe(x), ", got ", describe(alpha));
  const int64_t batch = x.size(0);
  if (mode == BlendMode::Auto) {
    // Measured with mixgrad-bench's blend_* cases (8 experts, 512 -> 512, 1 thread, 2026-11-25):
    // without gradients the output blend wins at every batch (at batch 1 both are one
    // matrix-vector pass over all weights, and it writes no blended weight); with gradients,
    // blending the weights wins up to batch 2 (2.7 vs 3.6 ms at 1, 4.2 vs 5.0 at 2, even at 4),
    // its weight gradient being one small GEMM against alpha.
    const bool records = GradMode::is_enabled() &&
                         (x.requires_grad() || alpha.requires_grad() || weight.requires_grad());
    mode = records && batch <= options_.blend_weights_max_batch ? BlendMode::Weights
                                                                : BlendMode::Outputs;
  }
  Tensor y;
  if (mode == BlendMode::Weights) {
    Tensor blended = matmul(alpha, weight.reshape({experts, out * in})).reshape({batch, out, in});
    y = bmm(blended, x.unsqueeze(2)).squeeze(2);
  } else {
    Tensor all_outputs = linear(x, weight.reshape({experts * out, in}));  // [B, E*out]
    y = bmm(alpha.unsqueeze(1), all_outputs.reshape({batch, experts, out})).squeeze(1);
  }
  return bias.defined() ? y + matmul(alpha, bias) : y;
}

std::string BlendedLinear::extra_repr() const {
  return "in_features=" + std::to_string(weight.size(2)) +
         ", out_features=" + std::to_string(weight.size(1)) +
         ", experts=" + std::to_string(weight.size(0));
}

}  // namespace mixgrad::models
