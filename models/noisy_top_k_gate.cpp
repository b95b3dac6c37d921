#include "models/noisy_top_k_gate.h"

#include <algorithm>

#include "core/grad_mode.h"
#include "nn/repr.h"
#include "ops/ops.h"

namespace mixgrad::models {

NoisyTopKGate::NoisyTopKGate(NoisyTopKGateOptions options) : options_(options) {
  MG_CHECK(options.d_model > 0 && options.num_experts > 0, "NoisyTopKGate",
           "d_model and num_experts must be positive, got d_model=", options.d_model,
           " num_experts=", options.num_experts);
  MG_CHECK(options.k >= 1 && options.k <= options.num_experts, "NoisyTopKGate", "k=", options.k,
           " must be in [1, num_experts=", options.num_experts, "]");
  MG_CHECK(options.importance_coef >= 0 && options.load_coef >= 0 && options.noise_epsilon >= 0,
           "NoisyTopKGate", "loss coefficients and noise_epsilon must be non-negative");
  MG_CHECK(options.cv_correction == 0 || options.cv_correction == 1, "NoisyTopKGate",
           "cv_correction must be 0 or 1, got ", options.cv_correction);
  if (options.second_expert) {
    check_second_expert_options(*options.second_expert, options.k, "NoisyTopKGate");
  }
  TensorOptions t = options.tensor_options;
  t.requires_grad_ = false;  // parameters become leaves on registration
  weight = register_parameter("weight", zeros({options.num_experts, options.d_model}, t));
  noise_weight =
      register_parameter("noise_weight", zeros({options.num_experts, options.d_model}, t));
}

Routing NoisyTopKGate::route(const Tensor& x) {
  const int64_t experts = options_.num_experts, k = options_.k;
  MG_CHECK(x.dim() == 2 && x.size(1) == options_.d_model, "NoisyTopKGate",
           "input must be [tokens, ", options_.d_model, "], got ", describe(x));
  MG_CHECK(x.size(0) > 0, "NoisyTopKGate",
           "needs at least one token (the balancing losses sum over tokens)");
  const Tensor clean = linear(x, weight);
  const bool noisy = is_training();
  Tensor noise_std, logits = clean;
  if (noisy) {
    noise_std = softplus(linear(x, noise_weight)) + options_.noise_epsilon;
    logits = clean + randn_like(clean, options_.generator) * noise_std;
  }
  // One extra value beyond the top k: the threshold of the smooth load for selected experts.
  const ValuesIndices top = topk(logits, std::min(k + 1, experts), 1);
  Routing r;
  r.probs = softmax(logits, 1);
  r.expert_index = top.indices.narrow(1, 0, k);
  r.gates = softmax(top.values.narrow(1, 0, k), 1);

  const Tensor dense_gates = scatter_add(zeros_like(clean), 1, r.expert_index, r.gates);
  const Tensor importance = dense_gates.sum({0});
  Tensor load;
  if (noisy && k < experts) {
    const Tensor threshold_if_in = top.values.narrow(1, k, 1);
    const Tensor threshold_if_out = top.values.narrow(1, k - 1, 1);
    const Tensor is_in = gt(logits, threshold_if_in);
    const Tensor prob_if_in = normal_cdf((clean - threshold_if_in) / noise_std);
    const Tensor prob_if_out = normal_cdf((clean - threshold_if_out) / noise_std);
    load = where(is_in, prob_if_in, prob_if_out).sum({0});
  } else {
    // No noise (or every expert always chosen): the load is the plain count, which carries no
    // gradient, and nothing divides by a zero noise scale.
    load = bincount(r.expert_index.reshape({-1}), Tensor(), experts).to(clean.dtype());
  }
  const Tensor importance_loss =
      cv_squared(importance, options_.cv_correction) * options_.importance_coef;
  const Tensor load_loss = cv_squared(load, options_.cv_correction) * options_.load_coef;
  r.aux_loss = importance_loss + load_loss;
  r.losses = {{"importance", importance_loss}, {"load", load_loss}};
  if (options_.second_expert) {
    r.keep =
        second_expert_keep(r.gates, *options_.second_expert, is_training(), options_.generator);
  }
  return r;
}

std::string NoisyTopKGate::extra_repr() const {
  return "experts=" + std::to_string(options_.num_experts) + ", k=" + std::to_string(options_.k) +
         ", noise_epsilon=" + nn::format_number(options_.noise_epsilon);
}

}  // namespace mixgrad::models
