#pragma once
// Two-level Mixture of Experts (Shazeer et al. 2017, appendix): an outer gate picks k_groups of
// G groups per token, each chosen group's inner gate picks k_experts of its E_g experts, and
//   y = sum_i sum_j G_outer(x)_i * G_i(x)_j * E_ij(x)
// over the selected pairs only. The inner gates of all groups run as one grouped matrix product
// over the (token, group) pairs sorted by group; the G * E_g experts then run like an MoE
// layer's (capacity or dropless). aux_loss = the outer gate's Switch/z losses + the inner gates'
// Switch losses averaged over the groups that received tokens.
#include "models/moe.h"

namespace mixgrad::models {

struct HierarchicalMoEOptions {
  int64_t d_model = 0;
  int64_t hidden = 0;
  int64_t groups = 0;
  int64_t experts_per_group = 0;
  int64_t k_groups = 2;
  int64_t k_experts = 2;
  Activation activation = Activation::GELU;
  double switch_loss_coef = 1e-2;  // for the outer gate and for every inner gate
  double z_loss_coef = 0.0;        // outer gate
  ExpertCapacity capacity = {};
  TensorOptions tensor_options = {};
};

class HierarchicalMoE : public FeedForward {
 public:
  // Throws Error for non-positive sizes or k outside [1, groups] / [1, experts_per_group].
  explicit HierarchicalMoE(HierarchicalMoEOptions options);
  // x [..., d_model] -> output of the same shape, summed aux loss, per-expert token counts
  // ([groups * experts_per_group], expert (g, j) at g * experts_per_group + j); gate_entropy is
  // the outer gate's.
  MoEOutput operator()(const Tensor& x) override;
  // The routing of the T tokens over all G * E_g experts: k_groups * k_experts pairs per token.
  Routing route(const Tensor& tokens);
  std::string extra_repr() const override;
  const HierarchicalMoEOptions& options() const { return options_; }

  TopKGate outer;
  Tensor inner_weight;  // [G, d, E_g]: the inner gates' routers, x @ W layout
  FFNExperts experts;   // G * E_g experts

 private:
  HierarchicalMoEOptions options_;
};

}  // namespace mixgrad::models
