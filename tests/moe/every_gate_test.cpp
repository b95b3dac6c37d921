// Every top-k gate inside the MoE layer against the dense reference (every expert on every token,
// weighted by the kept gate values): k = 1, 2, 3, with capacity drops and dropless, in training
// and in evaluation. Outputs, dropped counts and the gradients of x and of every parameter.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "common/test_util.h"
#include "mixgrad.h"
#include "models/bias_balanced_gate.h"
#include "models/moe.h"
#include "models/noisy_top_k_gate.h"
#include "moe/moe_reference.h"

namespace mixgrad::models {
namespace {

constexpr int64_t kD = 6, kExperts = 4;

enum class GateKind { SoftmaxThenTopK, TopKThenSoftmax, Noisy, BiasBalanced };

struct Case {
  GateKind gate;
  int64_t k;
  bool dropless;
  bool training;
};

std::string name_of(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  const char* gates[] = {"SoftmaxThenTopK", "TopKThenSoftmax", "Noisy", "BiasBalanced"};
  return std::string(gates[static_cast<int>(c.gate)]) + "_k" + std::to_string(c.k) +
         (c.dropless ? "_dropless" : "_capacity") + (c.training ? "_train" : "_eval");
}

void randomize(const Tensor& t, uint64_t seed) {
  Generator gen(seed);
  NoGradGuard no_grad;
  Tensor(t).copy_(randn(t.shape(), kFloat64, &gen));
}

// The gate under test, with random weights (the noisy gate's start at zero otherwise).
std::shared_ptr<Gate> make_gate(const Case& c, Generator* noise) {
  switch (c.gate) {
    case GateKind::SoftmaxThenTopK:
    case GateKind::TopKThenSoftmax:
      return std::make_shared<TopKGate>(TopKGateOptions{.d_model = kD,
                                                        .num_experts = kExperts,
                                                        .k = c.k,
                                                        .mode = c.gate == GateKind::SoftmaxThenTopK
                                                                    ? TopKMode::SoftmaxThenTopK
                                                                    : TopKMode::TopKThenSoftmax,
                                                        .z_loss_coef = 1e-3,
                                                        .tensor_options = kFloat64});
    case GateKind::Noisy: {
      auto gate = std::make_shared<NoisyTopKGate>(NoisyTopKGateOptions{.d_model = kD,
                                                                       .num_experts = kExperts,
                                                                       .k = c.k,
                                                                       .importance_coef = 0.1,
                                                                       .load_coef = 0.1,
                                                                       .tensor_options = kFloat64,
                                                                       .generator = noise});
      randomize(gate->weight, 31);
      randomize(gate->noise_weight, 32);
      return gate;
    }
    case GateKind::BiasBalanced: {
      // No bias update inside route(): the reference and the layer must route alike.
      auto gate =
          std::make_shared<BiasBalancedGate>(BiasBalancedGateOptions{.d_model = kD,
                                                                     .num_experts = kExperts,
                                                                     .k = c.k,
                                                                     .auto_update = false,
                                                                     .tensor_options = kFloat64});
      NoGradGuard no_grad;
      gate->expert_bias.copy_(tensor({0.2, -0.1, 0.0, 0.3}, kFloat64));
      return gate;
    }
  }
  return nullptr;
}

class EveryGate : public ::testing::TestWithParam<Case> {};

TEST_P(EveryGate, MoEMatchesTheDenseReference) {
  const Case c = GetParam();
  manual_seed(41);
  Generator noise(5);
  // Capacity factor 0.5 with min_capacity 1 on 14 tokens keeps one slot per expert.
  MoE moe({.d_model = kD,
           .hidden = 5,
           .num_experts = kExperts,
           .k = c.k,
           .capacity_factor_train = 0.5,
           .capacity_factor_eval = 0.5,
           .min_capacity = 1,
           .dropless = c.dropless,
           .tensor_options = kFloat64},
          make_gate(c, &noise));
  moe.train(c.training);
  Generator gen(42);
  const Tensor x = randn({2, 7, kD}, kFloat64, &gen).requires_grad_();
  const MoEOutput out = testing::expect_moe_matches_reference(moe, x, 1e-12, 1e-10,
                                                              [&noise] { noise.manual_seed(5); });
  EXPECT_EQ(out.dropped > 0, !c.dropless);
  EXPECT_EQ(out.tokens_per_expert.sum().item<int64_t>(), 14 * c.k - out.dropped);
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (GateKind g : {GateKind::SoftmaxThenTopK, GateKind::TopKThenSoftmax, GateKind::Noisy,
                     GateKind::BiasBalanced}) {
    for (int64_t k : {1, 2, 3}) {
      for (bool dropless : {false, true}) {
        for (bool training : {true, false}) cases.push_back({g, k, dropless, training});
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(GatesKCapacityMode, EveryGate, ::testing::ValuesIn(all_cases()), name_of);

}  // namespace
}  // namespace mixgrad::models
