#pragma once
// Activation functions as modules, for Sequential and printouts. Each is an
// ElementwiseActivation bound to the op of the same name in ops/elementwise.h (with its options),
// which is the activation's one definition: stack_modules batches every one of them through that
// function, and models::Activation names them for model options.
#include <functional>
#include <string>

#include "nn/module.h"

namespace mixgrad::nn {

// A module without parameters or buffers whose forward is one function of its input alone,
// applied element by element (SwiGLU: on the two halves of the last dim). stack_modules runs it
// once on the stacked [N, ...] input of N members, so a new activation needs no batched form.
class ElementwiseActivation : public Module {
 public:
  using Function = std::function<Tensor(const Tensor&)>;
  // Final: the function is the activation (stack_modules runs it in place of forward).
  Tensor forward(const Tensor& input) final { return function_(input); }
  std::string type_name() const override { return name_; }
  std::string extra_repr() const override { return options_; }
  // The activation with this module's options bound.
  const Function& function() const { return function_; }

 protected:
  // `name` as printed ("ReLU"), `options` as extra_repr() prints them ("alpha=1").
  ElementwiseActivation(std::string name, Function function, std::string options = "")
      : name_(std::move(name)), function_(std::move(function)), options_(std::move(options)) {}

 private:
  std::string name_;
  Function function_;
  std::string options_;
};

class ReLU : public ElementwiseActivation {
 public:
  ReLU();
};

class Tanh : public ElementwiseActivation {
 public:
  Tanh();
};

class Sigmoid : public ElementwiseActivation {
 public:
  Sigmoid();
};

// x * sigmoid(x) (Swish).
class SiLU : public ElementwiseActivation {
 public:
  SiLU();
};

// silu(first half) * second half of the last dim: [..., 2h] -> [..., h] (the gated activation of
// LLaMA's and Mixtral's experts).
class SwiGLU : public ElementwiseActivation {
 public:
  SwiGLU();
};

class Identity : public ElementwiseActivation {
 public:
  Identity();
};

// approximate: "none" (erf) or "tanh".
class GELU : public ElementwiseActivation {
 public:
  explicit GELU(std::string approximate = "none");
  const std::string& approximate() const { return approximate_; }

 private:
  std::string approximate_;
};

class ELU : public ElementwiseActivation {
 public:
  explicit ELU(double alpha = 1.0);
  double alpha() const { return alpha_; }

 private:
  double alpha_;
};

class LeakyReLU : public ElementwiseActivation {
 public:
  explicit LeakyReLU(double negative_slope = 0.01);
  double negative_slope() const { return negative_slope_; }

 private:
  double negative_slope_;
};

// log(1 + exp(beta * x)) / beta, linear above `threshold`.
class Softplus : public ElementwiseActivation {
 public:
  explicit Softplus(double beta = 1.0, double threshold = 20.0);
  double beta() const { return beta_; }
  double threshold() const { return threshold_; }

 private:
  double beta_;
  double threshold_;
};

}  // namespace mixgrad::nn
