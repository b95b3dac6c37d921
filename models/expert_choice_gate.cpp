#include "models/expert_choice_gate.h"

#include <algorithm>
#include <cmath>

#include "core/grad_mode.h"
#include "models/router_weight.h"
#include "nn/repr.h"
#include "ops/ops.h"

namespace mixgrad::models {

namespace {

void check_capacity_factor(double capacity_factor) {
  MG_CHECK(std::isfinite(capacity_factor) && capacity_factor > 0, "ExpertChoiceGate",
           "capacity_factor must be positive and finite, got ", capacity_factor);
}

}  // namespace

int64_t expert_choice_capacity(int64_t tokens, int64_t num_experts, double capacity_factor) {
  check_capacity_factor(capacity_factor);
  MG_CHECK(tokens >= 1 && num_experts >= 1, "ExpertChoiceGate",
           "needs at least one token and one expert, got tokens=", tokens,
           " num_experts=", num_experts);
  const double per_expert =
      std::floor(static_cast<double>(tokens) * capacity_factor / static_cast<double>(num_experts));
  // Compare in double first: a huge factor must not overflow the int64 conversion.
  if (per_expert >= static_cast<double>(tokens)) return tokens;
  return std::max<int64_t>(1, static_cast<int64_t>(per_expert));
}

Routing expert_choice_routing(const Tensor& x, const Tensor& weight, double capacity_factor) {
  MG_CHECK(weight.dim() == 2, "ExpertChoiceGate", "weight must be [experts, d], got ",
           describe(weight));
  check_router_input("ExpertChoiceGate", x, weight.size(1), 1);
  const int64_t tokens = x.size(0), experts = weight.size(0);
  const int64_t capacity = expert_choice_capacity(tokens, experts, capacity_factor);
  Routing r;
  r.probs = softmax(linear(x, weight), 1);
  r.gates = r.probs;
  {
    NoGradGuard no_grad;
    // Row e of taken: the tokens expert e takes.
    const Tensor taken = topk(r.probs.t(), capacity, 1).indices;
    const Tensor marks = scatter(zeros({experts, tokens}, kInt64), 1, taken, ones_like(taken));
    r.keep = marks.t().contiguous().to(kBool);
    r.expert_index = arange(experts).reshape({1, experts}).expand({tokens, experts}).contiguous();
    r.aux_loss = zeros({}, x.dtype());
  }
  r.load_bounded = true;
  return r;
}

ExpertChoiceGate::ExpertChoiceGate(ExpertChoiceGateOptions options) : options_(options) {
  check_capacity_factor(options.capacity_factor);
  weight =
      register_parameter("weight", make_router_weight("ExpertChoiceGate", options.d_model,
                                                      options.num_experts, options.tensor_options));
}

Routing ExpertChoiceGate::route(const Tensor& x) {
  check_router_input("ExpertChoiceGate", x, options_.d_model, 1);
  return expert_choice_routing(x, weight, options_.capacity_factor);
}

std::string ExpertChoiceGate::extra_repr() const {
  return "experts=" + std::to_string(options_.num_experts) +
         ", capacity_factor=" + nn::format_number(options_.capacity_factor);
}

}  // namespace mixgrad::models
