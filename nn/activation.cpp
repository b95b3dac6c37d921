#include "nn/activation.h"

#include "nn/repr.h"
#include "ops/elementwise.h"

namespace mixgrad::nn {

ReLU::ReLU() : ElementwiseActivation("ReLU", [](const Tensor& x) { return relu(x); }) {}
Tanh::Tanh() : ElementwiseActivation("Tanh", [](const Tensor& x) { return tanh(x); }) {}
Sigmoid::Sigmoid() : ElementwiseActivation("Sigmoid", [](const Tensor& x) { return sigmoid(x); }) {}
SiLU::SiLU() : ElementwiseActivation("SiLU", [](const Tensor& x) { return silu(x); }) {}
SwiGLU::SwiGLU() : ElementwiseActivation("SwiGLU", [](const Tensor& x) { return swiglu(x); }) {}
Identity::Identity() : ElementwiseActivation("Identity", [](const Tensor& x) { return x; }) {}

namespace {
const std::string& checked_approximate(const std::string& approximate) {
  MG_CHECK(approximate == "none" || approximate == "tanh", "GELU",
           "approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
  return approximate;
}
}  // namespace

GELU::GELU(std::string approximate)
    : ElementwiseActivation(
          "GELU", [a = checked_approximate(approximate)](const Tensor& x) { return gelu(x, a); },
          approximate == "none" ? "" : "approximate=" + approximate),
      approximate_(std::move(approximate)) {}

ELU::ELU(double alpha)
    : ElementwiseActivation(
          "ELU", [alpha](const Tensor& x) { return elu(x, alpha); },
          "alpha=" + format_number(alpha)),
      alpha_(alpha) {}

LeakyReLU::LeakyReLU(double negative_slope)
    : ElementwiseActivation(
          "LeakyReLU", [negative_slope](const Tensor& x) { return leaky_relu(x, negative_slope); },
          "negative_slope=" + format_number(negative_slope)),
      negative_slope_(negative_slope) {}

Softplus::Softplus(double beta, double threshold)
    : ElementwiseActivation(
          "Softplus", [beta, threshold](const Tensor& x) { return softplus(x, beta, threshold); },
          "beta=" + format_number(beta) + ", threshold=" + format_number(threshold)),
      beta_(beta),
      threshold_(threshold) {}

}  // namespace mixgrad::nn
