#include "models/activation.h"

#include "nn/activation.h"
#include "ops/elementwise.h"

namespace mixgrad::models {
namespace {

// SiLU has no nn module of its own; this one keeps make_activation total.
class SiLUModule : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { return silu(x); }
  std::string type_name() const override { return "SiLU"; }
};

class SwiGLUModule : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { return swiglu(x); }
  std::string type_name() const override { return "SwiGLU"; }
};

}  // namespace

Tensor activate(Activation activation, const Tensor& x) {
  switch (activation) {
    case Activation::ReLU:
      return relu(x);
    case Activation::GELU:
      return gelu(x);
    case Activation::ELU:
      return elu(x);
    case Activation::LeakyReLU:
      return leaky_relu(x);
    case Activation::SiLU:
      return silu(x);
    case Activation::Tanh:
      return tanh(x);
    case Activation::Sigmoid:
      return sigmoid(x);
    case Activation::Identity:
      return x;
    case Activation::SwiGLU:
      return swiglu(x);
  }
  throw Error("activate", "unknown activation");
}

std::shared_ptr<nn::Module> make_activation(Activation activation) {
  switch (activation) {
    case Activation::ReLU:
      return std::make_shared<nn::ReLU>();
    case Activation::GELU:
      return std::make_shared<nn::GELU>();
    case Activation::ELU:
      return std::make_shared<nn::ELU>();
    case Activation::LeakyReLU:
      return std::make_shared<nn::LeakyReLU>();
    case Activation::SiLU:
      return std::make_shared<SiLUModule>();
    case Activation::Tanh:
      return std::make_shared<nn::Tanh>();
    case Activation::Sigmoid:
      return std::make_shared<nn::Sigmoid>();
    case Activation::Identity:
      return std::make_shared<nn::Identity>();
    case Activation::SwiGLU:
      return std::make_shared<SwiGLUModule>();
  }
  throw Error("make_activation", "unknown activation");
}

std::string activation_name(Activation activation) {
  return make_activation(activation)->type_name();
}

int64_t activation_input_width(Activation activation, int64_t hidden) {
  return activation == Activation::SwiGLU ? 2 * hidden : hidden;
}

}  // namespace mixgrad::models
