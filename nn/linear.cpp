#include "nn/linear.h"

#include "nn/init.h"
#include "ops/functional.h"

namespace mixgrad::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias, TensorOptions options)
    : in_features_(in_features), out_features_(out_features) {
  MG_CHECK(in_features > 0 && out_features > 0, "Linear",
           "features must be positive, got in=", in_features, " out=", out_features);
  weight = register_parameter(
      "weight", init::fan_in_uniform({out_features, in_features}, in_features, options));
  if (with_bias) {
    bias = register_parameter("bias", init::fan_in_uniform({out_features}, in_features, options));
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
