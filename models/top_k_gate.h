#pragma once
// Top-k softmax gating for sparse MoE layers, with the Switch load-balancing loss and the ST-MoE
// router z-loss (definitions in shared/reference/moe-math.md).
#include <optional>

#include "models/gate.h"
#include "models/second_expert_policy.h"
#include "ops/creation.h"

namespace mixgrad::models {

// The two usual ways to turn router logits into k combine weights. Both select the same experts
// with the same weights; they differ in the gradient path:
enum class TopKMode {
  // p = softmax(logits); keep the k largest; renormalise them to sum 1 (Mixtral). Gradients
  // reach every logit through the softmax.
  SoftmaxThenTopK,
  // softmax over the k largest logits only (Shazeer 2017): the other logits get no gradient.
  TopKThenSoftmax,
};

struct TopKGateOptions {
  int64_t d_model = 0;
  int64_t num_experts = 0;
  int64_t k = 2;
  TopKMode mode = TopKMode::SoftmaxThenTopK;
  double switch_loss_coef = 1e-2;  // alpha in alpha * E * sum_i f_i * P_i
  double z_loss_coef = 0.0;        // weight of mean(logsumexp(logits)^2); ST-MoE uses 1e-3
  TensorOptions tensor_options = {};
  // Top-2 only: drop some second experts via Routing::keep (second_expert_policy.h).
  std::optional<SecondExpertOptions> second_expert = std::nullopt;
  Generator* generator = nullptr;  // for the Random second-expert policy; nullptr: the default
};

class TopKGate : public Gate {
 public:
  // Router weight [E, d] (no bias), initialised like a PyTorch Linear. Throws Error for
  // non-positive sizes, k outside [1, E], negative coefficients, or a second-expert policy with
  // k != 2 or invalid thresholds.
  explicit TopKGate(TopKGateOptions options);
  // x [T, d] -> routing of every token; with `second_expert`, routing.keep marks the second
  // experts the policy keeps (gates stay normalised over both). Throws Error if x is not [T, d].
  Routing route(const Tensor& x) override;
  int64_t num_experts() const override { return options_.num_experts; }
  int64_t d_model() const override { return options_.d_model; }
  std::string extra_repr() const override;
  const TopKGateOptions& options() const { return options_; }

  Tensor weight;  // [E, d]

 private:
  TopKGateOptions options_;
};

}  // namespace mixgrad::models
