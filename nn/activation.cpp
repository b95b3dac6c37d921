#include "nn/activation.h"

#include "nn/repr.h"
#include "ops/elementwise.h"

namespace mixgrad::nn {

Tensor ReLU::forward(const Tensor& input) {
  return relu(input);
}
Tensor Tanh::forward(const Tensor& input) {
  return tanh(input);
}
Tensor Sigmoid::forward(const Tensor& input) {
  return sigmoid(input);
}

GELU::GELU(std::string approximate) : approximate_(std::move(approximate)) {
  MG_CHECK(approximate_ == "none" || approximate_ == "tanh", "GELU",
           "approximate must be \"none\" or \"tanh\", got \"", approximate_, "\"");
}
Tensor GELU::forward(const Tensor& input) {
  return gelu(input, approximate_);
}
std::string GELU::extra_repr() const {
  return approximate_ == "none" ? "" : "approximate=" + approximate_;
}

Tensor ELU::forward(const Tensor& input) {
  return elu(input, alpha_);
}
std::string ELU::extra_repr() const {
  return "alpha=" + format_number(alpha_);
}

Tensor LeakyReLU::forward(const Tensor& input) {
  return leaky_relu(input, negative_slope_);
}
std::string LeakyReLU::extra_repr() const {
  return "negative_slope=" + format_number(negative_slope_);
}

Tensor Softplus::forward(const Tensor& input) {
  return softplus(input, beta_, threshold_);
}
std::string Softplus::extra_repr() const {
  return "beta=" + format_number(beta_) + ", threshold=" + format_number(threshold_);
}

}  // namespace mixgrad::nn
