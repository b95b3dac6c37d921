#pragma once
// Ensembles of identical MLP experts that all see the same input (the "efficient MoE" of the
// seeds): StackedExpertMLP runs every layer for all experts at once with stacked weights and
// batched matmul; IndependentExpertMLPs is the same network as E separate Sequential MLPs, the
// reference it must equal (and the naive baseline in benchmarks).
#include <vector>

#include "models/activation.h"
#include "nn/containers.h"
#include "nn/linear.h"
#include "ops/creation.h"

namespace mixgrad::models {

struct ExpertMLPOptions {
  int64_t num_experts = 4;
  // Layer widths, input first: {60, 256, 256, 256, 20} is four layers.
  std::vector<int64_t> sizes;
  // One activation after each layer (sizes.size() - 1 of them).
  std::vector<Activation> activations;
  TensorOptions tensor_options = {};
};

class IndependentExpertMLPs;

class StackedExpertMLP : public nn::Module {
 public:
  // Layer l holds weight_l [E, in, out] and bias_l [E, 1, out], each expert initialised like a
  // PyTorch Linear (uniform in +-1/sqrt(in)), independently. Throws Error for fewer than two
  // sizes, a non-positive size or expert count, or an activation count that does not match.
  explicit StackedExpertMLP(ExpertMLPOptions options);
  // x [B, in] (shared by all experts) or [E, B, in] (one input per expert) -> [E, B, out].
  Tensor forward(const Tensor& x) override;
  // Copies the parameters from / to an independent ensemble of the same shape.
  void copy_from(const IndependentExpertMLPs& experts);
  void copy_to(IndependentExpertMLPs& experts) const;
  std::string extra_repr() const override;

  const ExpertMLPOptions& options() const { return options_; }

  std::vector<Tensor> weights;  // [E, in, out] per layer
  std::vector<Tensor> biases;   // [E, 1, out] per layer

 private:
  ExpertMLPOptions options_;
};

class IndependentExpertMLPs : public nn::Module {
 public:
  // E Sequential(Linear, activation, ...) experts; same checks as StackedExpertMLP.
  explicit IndependentExpertMLPs(ExpertMLPOptions options);
  // x [B, in] -> [E, B, out], one expert after another.
  Tensor forward(const Tensor& x) override;
  // Expert e's Linear for layer l.
  nn::Linear& layer(int64_t expert, int64_t layer) const;

  const ExpertMLPOptions& options() const { return options_; }

 private:
  ExpertMLPOptions options_;
  std::shared_ptr<nn::ModuleList> experts_;
};

}  // namespace mixgrad::models
