#pragma once
// Activations chosen by name in model options (expert FFNs, MLP ensembles), usable both as a
// function and as a module for Sequential-built references.
#include <memory>
#include <string>

#include "nn/module.h"

namespace mixgrad::models {

enum class Activation { ReLU, GELU, ELU, LeakyReLU, SiLU, Tanh, Sigmoid, Identity };

Tensor activate(Activation activation, const Tensor& x);
std::shared_ptr<nn::Module> make_activation(Activation activation);
std::string activation_name(Activation activation);

}  // namespace mixgrad::models
