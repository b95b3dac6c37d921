#include "models/top_k_gate.h"

#include "core/grad_mode.h"
#include "models/router_weight.h"
#include "ops/ops.h"

namespace mixgrad::models {

TopKGate::TopKGate(TopKGateOptions options) : options_(options) {
  MG_CHECK(options.d_model > 0 && options.num_experts > 0, "TopKGate",
           "d_model and num_experts must be positive, got d_model=", options.d_model,
           " num_experts=", options.num_experts);
  MG_CHECK(options.k >= 1 && options.k <= options.num_experts, "TopKGate", "k=", options.k,
           " must be in [1, num_experts=", options.num_experts, "]");
  MG_CHECK(options.switch_loss_coef >= 0 && options.z_loss_coef >= 0, "TopKGate",
           "loss coefficients must be non-negative");
  if (options.second_expert) {
    check_second_expert_options(*options.second_expert, options.k, "TopKGate");
  }
  weight = register_parameter(
      "weight",
      make_router_weight("TopKGate", options.d_model, options.num_experts, options.tensor_options));
}

Routing TopKGate::route(const Tensor& x) {
  const int64_t experts = options_.num_experts, k = options_.k;
  // At least one token: the balancing losses average over tokens.
  check_router_input("TopKGate", x, options_.d_model, 1);
  const Tensor logits = linear(x, weight);
  Routing r;
  r.probs = softmax(logits, 1);
  if (options_.mode == TopKMode::SoftmaxThenTopK) {
    ValuesIndices top = topk(r.probs, k, 1);
    r.expert_index = top.indices;
    r.gates = top.values / top.values.sum({1}, true);
  } else {
    ValuesIndices top = topk(logits, k, 1);
    r.expert_index = top.indices;
    r.gates = softmax(top.values, 1);
  }
  // Switch: E * sum_i f_i * P_i, f_i the fraction of the T*k token-slots sent to expert i.
  const auto slots = static_cast<double>(x.size(0) * k);
  const Tensor fraction =
      bincount(r.expert_index.reshape({-1}), Tensor(), experts).to(logits.dtype()) / slots;
  const Tensor switch_loss =
      (fraction * r.probs.mean({0})).sum() * (options_.switch_loss_coef * experts);
  // With a zero coefficient the z-loss is the constant 0: not computed, not in the graph.
  const Tensor z_loss = options_.z_loss_coef > 0
                            ? logsumexp(logits, {1}).square().mean() * options_.z_loss_coef
                            : zeros({}, options_of(logits));
  r.aux_loss = options_.z_loss_coef > 0 ? switch_loss + z_loss : switch_loss;
  r.losses = {{"switch", switch_loss}, {"z", z_loss}};
  if (options_.second_expert) {
    r.keep =
        second_expert_keep(r.gates, *options_.second_expert, is_training(), options_.generator);
  }
  return r;
}

std::string TopKGate::extra_repr() const {
  return "experts=" + std::to_string(options_.num_experts) + ", k=" + std::to_string(options_.k) +
         (options_.mode == TopKMode::SoftmaxThenTopK ? "" : ", top_k_then_softmax");
}

}  // namespace mixgrad::models
