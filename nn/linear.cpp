#include "nn/linear.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "ops/functional.h"

namespace mixgrad::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias, TensorOptions options)
    : in_features_(in_features), out_features_(out_features) {
  MG_CHECK(in_features > 0 && out_features > 0, "Linear",
           "features must be positive, got in=", in_features, " out=", out_features);
  options.requires_grad_ = false;
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  NoGradGuard no_grad;
  weight = register_parameter("weight",
                              empty({out_features, in_features}, options).uniform_(-bound, bound));
  if (with_bias) {
    bias = register_parameter("bias", empty({out_features}, options).uniform_(-bound, bound));
  }
}

Tensor Linear::forward(const Tensor& input) {
  return linear(input, weight, bias);
}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features_) +
         ", out_features=" + std::to_string(out_features_) +
         ", bias=" + (bias.defined() ? "true" : "false");
}

}  // namespace mixgrad::nn
