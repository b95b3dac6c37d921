#include "nn/rms_norm.h"

#include "nn/repr.h"
#include "ops/rms_norm.h"

namespace mixgrad::nn {

RMSNorm::RMSNorm(int64_t dim, double eps, bool elementwise_affine, TensorOptions options)
    : dim_(dim), eps_(eps) {
  MG_CHECK(dim > 0, "RMSNorm", "dim must be positive, got ", dim);
  MG_CHECK(eps >= 0, "RMSNorm", "eps must be non-negative, got ", eps);
  options.requires_grad_ = false;
  if (elementwise_affine) weight = register_parameter("weight", ones({dim}, options));
}

Tensor RMSNorm::forward(const Tensor& input) {
  MG_CHECK(input.defined() && input.dim() >= 1 && input.size(-1) == dim_, "RMSNorm",
           "expected input of shape [..., ", dim_, "], got ", describe(input));
  return rms_norm(input, weight, eps_);
}

std::string RMSNorm::extra_repr() const {
  return "(" + std::to_string(dim_) + ",), eps=" + format_number(eps_) +
         ", elementwise_affine=" + (weight.defined() ? "true" : "false");
}

}  // namespace mixgrad::nn
