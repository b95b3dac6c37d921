#pragma once
// Expert-choice routing (Zhou et al. 2022): instead of each token picking experts, each expert
// picks its top-c tokens, so every expert's load is exactly c and no capacity drop is needed.
// Definitions in shared/reference/moe-math.md.
#include "models/gate.h"
#include "ops/creation.h"

namespace mixgrad::models {

struct ExpertChoiceGateOptions {
  int64_t d_model = 0;
  int64_t num_experts = 0;
  // Tokens per expert for a batch of T tokens: c = min(T, max(1, floor(T * capacity_factor / E))).
  // The floor keeps the total work at or below capacity_factor * T token-slots; the lower bound 1
  // keeps every expert busy on tiny batches.
  double capacity_factor = 1.0;
  TensorOptions tensor_options = {};
};

// c = min(tokens, max(1, floor(tokens * capacity_factor / num_experts))). Throws Error for
// tokens < 1, num_experts < 1 or a capacity_factor that is not positive and finite.
int64_t expert_choice_capacity(int64_t tokens, int64_t num_experts, double capacity_factor);

// The routing rule itself, for x [T, d] and a router weight [E, d]: S = softmax(x W^T) over
// experts, and expert e takes the c tokens with the largest S[:, e] (c from
// expert_choice_capacity). In the Routing format: expert_index [T, E] with column e equal to e,
// gates = probs = S, keep [T, E] true where expert e took token t, load_bounded = true and a
// zero aux_loss of x's dtype. Differentiable wrt x and weight through S. Throws Error for
// mismatched shapes, no tokens, or a bad capacity_factor.
Routing expert_choice_routing(const Tensor& x, const Tensor& weight, double capacity_factor);

class ExpertChoiceGate : public Gate {
 public:
  // Router weight [E, d] (no bias), initialised like a PyTorch Linear. Throws Error for
  // non-positive sizes or a capacity_factor that is not positive and finite.
  explicit ExpertChoiceGate(ExpertChoiceGateOptions options);
  // x [T, d] -> expert_choice_routing(x, weight, capacity_factor). A token no expert takes gets
  // a zero output from MoE. Throws Error if x is not [T, d] with T >= 1.
  Routing route(const Tensor& x) override;
  int64_t num_experts() const override { return options_.num_experts; }
  int64_t d_model() const override { return options_.d_model; }
  std::string extra_repr() const override;
  const ExpertChoiceGateOptions& options() const { return options_; }

  Tensor weight;  // [E, d]

 private:
  ExpertChoiceGateOptions options_;
};

}  // namespace mixgrad::models
