#include "models/bias_balanced_gate.h"

#include <cmath>

#include "core/grad_mode.h"
#include "models/router_weight.h"
#include "nn/repr.h"
#include "ops/ops.h"

namespace mixgrad::models {

namespace {

void check_k(int64_t k, int64_t experts) {
  MG_CHECK(k >= 1 && k <= experts, "BiasBalancedGate", "k=", k,
           " must be in [1, num_experts=", experts, "]");
}

}  // namespace

Routing bias_balanced_routing(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t k,
                              BiasScore score) {
  MG_CHECK(weight.dim() == 2, "BiasBalancedGate", "weight must be [experts, d], got ",
           describe(weight));
  const int64_t experts = weight.size(0);
  MG_CHECK(bias.dim() == 1 && bias.size(0) == experts, "BiasBalancedGate", "bias must be [",
           experts, "], got ", describe(bias));
  check_k(k, experts);
  check_router_input("BiasBalancedGate", x, weight.size(1), 0);
  const Tensor logits = linear(x, weight);
  const Tensor scores = score == BiasScore::Sigmoid ? sigmoid(logits) : softmax(logits, 1);
  Routing r;
  {
    NoGradGuard no_grad;
    r.expert_index = topk(scores + bias, k, 1).indices;
    r.aux_loss = zeros({}, x.dtype());
  }
  const Tensor selected = gather(scores, 1, r.expert_index);
  r.gates = selected / selected.sum({1}, true);
  r.probs = scores / scores.sum({1}, true);
  return r;
}

BiasBalancedGate::BiasBalancedGate(BiasBalancedGateOptions options) : options_(options) {
  weight =
      register_parameter("weight", make_router_weight("BiasBalancedGate", options.d_model,
                                                      options.num_experts, options.tensor_options));
  check_k(options.k, options.num_experts);
  MG_CHECK(std::isfinite(options.bias_update_rate) && options.bias_update_rate >= 0,
           "BiasBalancedGate", "bias_update_rate must be non-negative and finite, got ",
           options.bias_update_rate);
  TensorOptions t = options.tensor_options;
  t.requires_grad_ = false;
  expert_bias = register_buffer("expert_bias", zeros({options.num_experts}, t));
}

Routing BiasBalancedGate::route(const Tensor& x) {
  check_router_input("BiasBalancedGate", x, options_.d_model, 0);
  Routing r = bias_balanced_routing(x, weight, expert_bias, options_.k, options_.score);
  if (options_.auto_update && is_training()) {
    update_bias(bincount(r.expert_index.reshape({-1}), Tensor(), options_.num_experts));
  }
  return r;
}

void BiasBalancedGate::update_bias(const Tensor& tokens_per_expert) {
  MG_CHECK(tokens_per_expert.defined() && tokens_per_expert.dim() == 1 &&
               tokens_per_expert.size(0) == options_.num_experts &&
               tokens_per_expert.dtype() != kBool,
           "BiasBalancedGate", "update_bias needs a numeric [", options_.num_experts,
           "] tensor of loads, got ", describe(tokens_per_expert));
  NoGradGuard no_grad;
  // In float64 so that a load equal to the mean compares equal (sign 0) for integer counts.
  const Tensor load = tokens_per_expert.to(kFloat64);
  const Tensor step = sign(load - load.mean()) * options_.bias_update_rate;
  expert_bias.sub_(step.to(expert_bias.dtype()));
}

std::string BiasBalancedGate::extra_repr() const {
  return "experts=" + std::to_string(options_.num_experts) + ", k=" + std::to_string(options_.k) +
         ", gamma=" + nn::format_number(options_.bias_update_rate) +
         (options_.score == BiasScore::Sigmoid ? "" : ", softmax");
}

}  // namespace mixgrad::models
