#pragma once
// Auxiliary-loss-free load balancing (DeepSeek-V3): a per-expert bias steers top-k selection
// towards under-loaded experts, while the combine weights use the unbiased scores, so balancing
// adds no loss term and no gradient interference. Definitions in shared/reference/moe-math.md.
#include "models/gate.h"
#include "ops/creation.h"

namespace mixgrad::models {

// How router logits become per-expert scores.
enum class BiasScore {
  Sigmoid,  // s = sigmoid(logits), each expert scored independently (DeepSeek-V3)
  Softmax,  // s = softmax(logits) over experts
};

struct BiasBalancedGateOptions {
  int64_t d_model = 0;
  int64_t num_experts = 0;
  int64_t k = 2;
  double bias_update_rate = 1e-3;  // gamma in b_i -= gamma * sign(load_i - mean load)
  BiasScore score = BiasScore::Sigmoid;
  // Update the bias inside route() in training mode from that batch's loads. The bias then
  // changes after every training forward (the routing returned used the bias from before it).
  bool auto_update = true;
  TensorOptions tensor_options = {};
};

// The routing rule for x [T, d], router weight [E, d] and bias [E]: scores s = score(x W^T);
// each token selects the k experts with the largest s + bias; gates are the selected unbiased
// scores divided by their sum; probs = s divided by its per-token sum; aux_loss is a zero of x's
// dtype and losses is empty. Differentiable wrt x and weight (not bias). Throws Error for
// mismatched shapes or k outside [1, E].
Routing bias_balanced_routing(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t k,
                              BiasScore score);

class BiasBalancedGate : public Gate {
 public:
  // Router weight [E, d] (no bias term), initialised like a PyTorch Linear, and a persistent,
  // non-trainable buffer "expert_bias" [E] of zeros. Throws Error for non-positive sizes, k
  // outside [1, E] or a bias_update_rate that is negative or not finite.
  explicit BiasBalancedGate(BiasBalancedGateOptions options);
  // x [T, d] -> bias_balanced_routing(x, weight, expert_bias, k, score); then, when training
  // with auto_update, update_bias(the batch's selections per expert). Throws Error if x is not
  // [T, d].
  Routing route(const Tensor& x) override;
  // b_i -= gamma * sign(load_i - mean(load)) for a numeric [E] tensor of per-expert loads (e.g.
  // MoEOutput::tokens_per_expert); experts exactly at the mean keep their bias. No autograd.
  // Throws Error (bias untouched) if tokens_per_expert is not a numeric [E] tensor.
  void update_bias(const Tensor& tokens_per_expert);
  int64_t num_experts() const override { return options_.num_experts; }
  int64_t d_model() const override { return options_.d_model; }
  std::string extra_repr() const override;
  const BiasBalancedGateOptions& options() const { return options_; }

  Tensor weight;       // [E, d]
  Tensor expert_bias;  // [E], selection only

 private:
  BiasBalancedGateOptions options_;
};

}  // namespace mixgrad::models
