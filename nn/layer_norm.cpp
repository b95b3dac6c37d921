#include "nn/layer_norm.h"

#include "nn/repr.h"
#include "ops/functional.h"

namespace mixgrad::nn {

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool elementwise_affine,
                     TensorOptions options)
    : normalized_shape_(std::move(normalized_shape)), eps_(eps) {
  MG_CHECK(!normalized_shape_.empty(), "LayerNorm", "normalized_shape must not be empty");
  MG_CHECK(eps > 0, "LayerNorm", "eps must be positive, got ", eps);
  options.requires_grad_ = false;
  if (elementwise_affine) {
    weight = register_parameter("weight", ones(normalized_shape_, options));
    bias = register_parameter("bias", zeros(normalized_shape_, options));
  }
}

Tensor LayerNorm::forward(const Tensor& input) {
  return layer_norm(input, normalized_shape_, weight, bias, eps_);
}

std::string LayerNorm::extra_repr() const {
  return detail::to_str(normalized_shape_) + ", eps=" + format_number(eps_) +
         ", elementwise_affine=" + (weight.defined() ? "true" : "false");
}

}  // namespace mixgrad::nn
