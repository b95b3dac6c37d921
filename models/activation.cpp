#include "models/activation.h"

#include <array>

#include "nn/activation.h"

namespace mixgrad::models {
namespace {

// Each Activation is its nn module (nn/activation.h, where the activation is defined once).
struct ActivationRow {
  Activation activation;
  std::shared_ptr<nn::ElementwiseActivation> (*make)();
  bool gated;  // takes 2h features for h outputs
};

template <class M>
std::shared_ptr<nn::ElementwiseActivation> make() {
  return std::make_shared<M>();
}

constexpr std::array kRows = {
    ActivationRow{Activation::ReLU, &make<nn::ReLU>, false},
    ActivationRow{Activation::GELU, &make<nn::GELU>, false},
    ActivationRow{Activation::ELU, &make<nn::ELU>, false},
    ActivationRow{Activation::LeakyReLU, &make<nn::LeakyReLU>, false},
    ActivationRow{Activation::SiLU, &make<nn::SiLU>, false},
    ActivationRow{Activation::Tanh, &make<nn::Tanh>, false},
    ActivationRow{Activation::Sigmoid, &make<nn::Sigmoid>, false},
    ActivationRow{Activation::Identity, &make<nn::Identity>, false},
    ActivationRow{Activation::SwiGLU, &make<nn::SwiGLU>, true},
};

const ActivationRow& row(Activation activation) {
  for (const ActivationRow& r : kRows)
    if (r.activation == activation) return r;
  throw Error("models::Activation",
              detail::concat("unknown activation ", static_cast<int>(activation)));
}

// One module per activation, made once: activate() calls its function without allocating.
const nn::ElementwiseActivation& shared_module(Activation activation) {
  static const auto modules = [] {
    std::array<std::shared_ptr<nn::ElementwiseActivation>, kRows.size()> m;
    for (std::size_t i = 0; i < kRows.size(); ++i) m[i] = kRows[i].make();
    return m;
  }();
  for (std::size_t i = 0; i < kRows.size(); ++i)
    if (kRows[i].activation == activation) return *modules[i];
  throw Error("models::Activation",
              detail::concat("unknown activation ", static_cast<int>(activation)));
}

}  // namespace

Tensor activate(Activation activation, const Tensor& x) {
  return shared_module(activation).function()(x);
}

std::shared_ptr<nn::Module> make_activation(Activation activation) {
  return row(activation).make();
}

std::string activation_name(Activation activation) {
  return shared_module(activation).type_name();
}

int64_t activation_input_width(Activation activation, int64_t hidden) {
  return row(activation).gated ? 2 * hidden : hidden;
}

}  // namespace mixgrad::models
