#pragma once
// Noisy top-k gating (Shazeer et al. 2017, "Outrageously Large Neural Networks") with its
// importance and smooth load balancing losses (definitions in shared/reference/moe-math.md).
#include <optional>

#include "models/gate.h"
#include "models/second_expert_policy.h"
#include "ops/creation.h"

namespace mixgrad::models {

struct NoisyTopKGateOptions {
  int64_t d_model = 0;
  int64_t num_experts = 0;
  int64_t k = 2;
  double importance_coef = 1e-2;  // w_importance in w * CV(Importance)^2
  double load_coef = 1e-2;        // w_load in w * CV(Load)^2
  // Added to softplus(x W_noise^T) so the noise scale (and the load's divisor) stays positive,
  // as the reference PyTorch port does.
  double noise_epsilon = 1e-2;
  // 0: population variance in CV^2 (tensor2tensor); 1: unbiased (the PyTorch port's torch.var).
  int64_t cv_correction = 1;
  // Top-2 only: drop some second experts via Routing::keep (second_expert_policy.h).
  std::optional<SecondExpertOptions> second_expert = std::nullopt;
  TensorOptions tensor_options = {};
  Generator* generator = nullptr;  // noise and Random policy draws; nullptr: the default
};

class NoisyTopKGate : public Gate {
 public:
  // W_g and W_noise [E, d], zero-initialised as in the reference PyTorch port (so training
  // starts from uniform routing with noise scale softplus(0) + noise_epsilon). Throws Error for
  // non-positive sizes, k outside [1, E], negative coefficients or noise_epsilon, cv_correction
  // not 0 or 1, or a second-expert policy with k != 2 or invalid thresholds.
  explicit NoisyTopKGate(NoisyTopKGateOptions options);

  // x [T, d] -> routing. H = x W_g^T + eps * (softplus(x W_noise^T) + noise_epsilon), with
  // eps ~ N(0, 1) drawn only in training; gates = softmax over the k largest H; probs =
  // softmax(H). Losses "importance" (CV^2 of the column sums of the dense gate matrix) and
  // "load": in training the smooth estimate sum_x Phi((clean - threshold) / noise_std), where
  // threshold is the (k+1)-th largest H for an expert inside the top k and the k-th largest for
  // one outside; in evaluation (or when k == E) the hard count of tokens per expert. Both see the
  // gates before any second-expert policy. Throws Error if x is not [T, d] with T >= 1.
  Routing route(const Tensor& x) override;
  int64_t num_experts() const override { return options_.num_experts; }
  int64_t d_model() const override { return options_.d_model; }
  std::string extra_repr() const override;
  const NoisyTopKGateOptions& options() const { return options_; }

  Tensor weight;        // W_g [E, d]
  Tensor noise_weight;  // W_noise [E, d]

 private:
  NoisyTopKGateOptions options_;
};

}  // namespace mixgrad::models
