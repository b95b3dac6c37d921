#pragma once
// Activations chosen in model options (expert FFNs, MLP ensembles), usable both as a function and
// as a module for Sequential-built references. Each value is the nn module of the same name
// (nn/activation.h), where the activation is defined; adding one adds a value and a row here.
#include <memory>
#include <string>

#include "nn/module.h"

namespace mixgrad::models {

// SwiGLU is gated (Shazeer 2020; LLaMA's and Mixtral's experts): it takes [..., 2h] and returns
// silu(first half) * second half, [..., h], so the layer before it is twice as wide.
enum class Activation { ReLU, GELU, ELU, LeakyReLU, SiLU, Tanh, Sigmoid, Identity, SwiGLU };

Tensor activate(Activation activation, const Tensor& x);
std::shared_ptr<nn::Module> make_activation(Activation activation);
std::string activation_name(Activation activation);
// The width a layer feeding `activation` must produce for `hidden` features after it: 2 * hidden
// for gated activations, hidden otherwise.
int64_t activation_input_width(Activation activation, int64_t hidden);

}  // namespace mixgrad::models
