#include <gtest/gtest.h>

#include <cmath>

#include "common/test_util.h"
#include "mixgrad.h"
#include "models/bias_balanced_gate.h"
#include "models/expert_choice_gate.h"
#include "models/moe.h"
#include "moe/moe_reference.h"

namespace mixgrad::models {
namespace {

using mixgrad::testing::expect_close;
using mixgrad::testing::expect_values;

// softmax of one row of logits, by hand.
std::vector<double> softmax_row(const std::vector<double>& logits) {
  double total = 0;
  for (double l : logits) total += std::exp(l);
  std::vector<double> out;
  for (double l : logits) out.push_back(std::exp(l) / total);
  return out;
}

double sigmoid_of(double v) {
  return 1.0 / (1.0 + std::exp(-v));
}

MoEOptions moe_options(int64_t d_model, int64_t experts, bool dropless) {
  return {.d_model = d_model,
          .hidden = 5,
          .num_experts = experts,
          .capacity_factor_train = 0.5,
          .capacity_factor_eval = 0.5,
          .min_capacity = 1,
          .dropless = dropless,
          .tensor_options = kFloat64};
}

// ---- expert choice ----

// W = I, so the logits are the tokens themselves. T = 6, E = 3, capacity_factor 1: c = 2.
std::shared_ptr<ExpertChoiceGate> hand_expert_choice_gate() {
  auto gate = std::make_shared<ExpertChoiceGate>(
      ExpertChoiceGateOptions{.d_model = 3, .num_experts = 3, .tensor_options = kFloat64});
  NoGradGuard no_grad;
  gate->weight.copy_(eye(3, std::nullopt, kFloat64));
  return gate;
}

const std::vector<std::vector<double>> kHandTokens = {{4, 0, 3}, {0, 4, 0}, {1, 1, 0},
                                                      {0, 2, 0}, {0, 0, 2}, {3, 0, 0}};

Tensor hand_tokens() {
  std::vector<double> flat;
  for (const auto& token : kHandTokens) flat.insert(flat.end(), token.begin(), token.end());
  return tensor(flat, Shape{6, 3}, kFloat64);
}

TEST(ExpertChoiceGate, HandCaseTakesEachExpertsTopTokens) {
  Routing r = hand_expert_choice_gate()->route(hand_tokens());
  // Column scores: expert 0 ranks t5 (.909), t0 (.721) first; expert 1 t1 (.965), t3 (.787);
  // expert 2 t4 (.787), t0 (.265). Token 0 goes to two experts, token 2 to none.
  expect_values(r.keep.to(kInt64), {6, 3}, {1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0});
  expect_values(r.expert_index, {6, 3}, {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2});
  std::vector<double> scores;
  for (const auto& token : kHandTokens) {
    for (double s : softmax_row(token)) scores.push_back(s);
  }
  expect_close(r.gates, tensor(scores, Shape{6, 3}, kFloat64), 1e-15, 1e-14);
  expect_close(r.probs, r.gates, 0, 0);
  EXPECT_TRUE(r.load_bounded);
  EXPECT_TRUE(r.losses.empty());
  EXPECT_EQ(r.aux_loss.dim(), 0);
  EXPECT_EQ(r.aux_loss.dtype(), kFloat64);
  EXPECT_EQ(r.aux_loss.item<double>(), 0.0);
}

TEST(ExpertChoiceGate, MoEGivesZeroToAnUntakenTokenAndEqualLoads) {
  manual_seed(3);
  // MoE's own capacity (factor 0.5) would leave 1 slot per expert; the gate's bound replaces it.
  MoE moe(moe_options(3, 3, false), hand_expert_choice_gate());
  MoEOutput out = moe(hand_tokens());
  expect_values(out.tokens_per_expert, {3}, {2, 2, 2});
  EXPECT_EQ(out.dropped, 18 - 6);
  for (int64_t t = 0; t < 6; ++t) {
    const double magnitude = out.output.select(0, t).abs().sum().item<double>();
    if (t == 2) {
      EXPECT_EQ(magnitude, 0.0);
    } else {
      EXPECT_GT(magnitude, 0.0) << "token " << t;
    }
  }
}

TEST(ExpertChoiceGate, CapacityIsFlooredAtLeastOneAndAtMostT) {
  EXPECT_EQ(expert_choice_capacity(10, 4, 1.25), 3);  // floor(3.125)
  EXPECT_EQ(expert_choice_capacity(10, 4, 1.0), 2);   // floor(2.5)
  EXPECT_EQ(expert_choice_capacity(3, 8, 1.0), 1);    // floor(0.375) raised to 1
  EXPECT_EQ(expert_choice_capacity(5, 2, 10.0), 5);   // floor(25) clamped to T
  EXPECT_EQ(expert_choice_capacity(5, 2, 1e300), 5);
}

TEST(ExpertChoiceGate, EveryExpertTakesExactlyCapacityTokens) {
  manual_seed(5);
  ExpertChoiceGate gate({.d_model = 4, .num_experts = 3, .capacity_factor = 2.0});
  Generator gen(1);
  Routing r = gate.route(randn({7, 4}, {}, &gen));  // c = floor(14 / 3) = 4
  expect_values(r.keep.to(kInt64).sum({0}), {3}, {4, 4, 4});
  EXPECT_EQ(r.aux_loss.dtype(), kFloat32);
}

TEST(ExpertChoiceGate, MoEMatchesBruteForceOutputsAndGradients) {
  manual_seed(11);
  auto gate = std::make_shared<ExpertChoiceGate>(ExpertChoiceGateOptions{
      .d_model = 6, .num_experts = 4, .capacity_factor = 1.25, .tensor_options = kFloat64});
  MoE moe(moe_options(6, 4, false), gate);  // the gate's bound replaces MoE's capacity
  Generator gen(2);
  Tensor x = randn({2, 5, 6}, kFloat64, &gen).requires_grad_();
  EXPECT_EQ(testing::expect_moe_matches_reference(moe, x).aux_loss.item<double>(), 0.0);
  MoEOutput out = moe(x);
  expect_values(out.tokens_per_expert, {4}, {3, 3, 3, 3});  // c = floor(10 * 1.25 / 4)
}

TEST(ExpertChoiceGate, GatesGradcheckWrtInputAndWeight) {
  Tensor x = mixgrad::testing::grad_input({5, 3}, 1);
  Tensor w = mixgrad::testing::grad_input({4, 3}, 2);
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) { return expert_choice_routing(in[0], in[1], 1.5).gates; },
      (std::vector<Tensor>{x, w}));
}

TEST(ExpertChoiceGate, Errors) {
  EXPECT_MG_ERROR(ExpertChoiceGate({.d_model = 2, .num_experts = 3, .capacity_factor = 0.0}),
                  "capacity_factor");
  EXPECT_MG_ERROR(ExpertChoiceGate({.d_model = 2, .num_experts = 3, .capacity_factor = -1.0}),
                  "capacity_factor");
  EXPECT_MG_ERROR(ExpertChoiceGate({.d_model = 0, .num_experts = 3}), "d_model");
  ExpertChoiceGate gate({.d_model = 2, .num_experts = 3});
  EXPECT_MG_ERROR(gate.route(zeros({4, 3})), "ExpertChoiceGate");
  EXPECT_MG_ERROR(gate.route(zeros({0, 2})), "at least 1 token");
  EXPECT_MG_ERROR(expert_choice_capacity(4, 2, std::nan("")), "capacity_factor");
}

// ---- bias-balanced (auxiliary-loss-free) ----

// W = [[1, 0], [0, 1], [0, 0]]: logits [x0, x1, 0].
std::unique_ptr<BiasBalancedGate> hand_bias_gate(int64_t k, double gamma = 1e-3,
                                                 BiasScore score = BiasScore::Sigmoid) {
  auto gate =
      std::make_unique<BiasBalancedGate>(BiasBalancedGateOptions{.d_model = 2,
                                                                 .num_experts = 3,
                                                                 .k = k,
                                                                 .bias_update_rate = gamma,
                                                                 .score = score,
                                                                 .tensor_options = kFloat64});
  NoGradGuard no_grad;
  gate->weight.copy_(tensor({{1.0, 0.0}, {0.0, 1.0}, {0.0, 0.0}}, kFloat64));
  return gate;
}

TEST(BiasBalancedGate, BiasChangesSelectionButNotCombineWeights) {
  auto owned = hand_bias_gate(2);
  BiasBalancedGate& gate = *owned;
  gate.eval();
  Tensor x = tensor({{2.0, 1.0}}, kFloat64);
  const double s0 = sigmoid_of(2), s1 = sigmoid_of(1), s2 = 0.5;
  Routing plain = gate.route(x);
  expect_values(plain.expert_index, {1, 2}, {0, 1});
  expect_close(plain.gates, tensor({{s0 / (s0 + s1), s1 / (s0 + s1)}}, kFloat64), 1e-15, 1e-15);
  const double total = s0 + s1 + s2;
  expect_close(plain.probs, tensor({{s0 / total, s1 / total, s2 / total}}, kFloat64), 1e-15, 1e-15);
  EXPECT_EQ(plain.aux_loss.item<double>(), 0.0);
  EXPECT_TRUE(plain.losses.empty());
  EXPECT_FALSE(plain.keep.defined());
  EXPECT_FALSE(plain.load_bounded);

  {
    NoGradGuard no_grad;
    gate.expert_bias.copy_(tensor({0.0, 0.0, 1.0}, kFloat64));
  }
  Routing biased = gate.route(x);
  expect_values(biased.expert_index, {1, 2}, {2, 0});  // 1.5 > 0.88 > 0.73 biased
  expect_close(biased.gates, tensor({{s2 / (s2 + s0), s0 / (s2 + s0)}}, kFloat64), 1e-15, 1e-15);
  expect_close(biased.probs, plain.probs, 0, 0);
}

TEST(BiasBalancedGate, SoftmaxScoresRenormaliseTheSelectedProbabilities) {
  auto owned = hand_bias_gate(2, 1e-3, BiasScore::Softmax);
  BiasBalancedGate& gate = *owned;
  Tensor x = tensor({{2.0, 1.0}}, kFloat64);
  std::vector<double> p = softmax_row({2, 1, 0});
  Routing r = gate.route(x);
  expect_values(r.expert_index, {1, 2}, {0, 1});
  expect_close(r.gates, tensor({{p[0] / (p[0] + p[1]), p[1] / (p[0] + p[1])}}, kFloat64), 1e-15,
               1e-15);
  expect_close(r.probs, tensor({p[0], p[1], p[2]}, kFloat64).reshape({1, 3}), 1e-15, 1e-15);
}

TEST(BiasBalancedGate, UpdateBiasStepsByExactlyGammaAndNotAtTheMean) {
  BiasBalancedGate wide({.d_model = 2, .num_experts = 4, .k = 1, .bias_update_rate = 0.25});
  wide.update_bias(tensor({3, 1, 2, 2}));  // mean 2
  expect_values(wide.expert_bias, {4}, {-0.25, 0.25, 0.0, 0.0});
  wide.update_bias(tensor({0.5f, 0.5f, 0.5f, 2.5f}));  // mean 1
  expect_values(wide.expert_bias, {4}, {0.0, 0.5, 0.25, -0.25});
  EXPECT_EQ(wide.expert_bias.dtype(), kFloat32);
  EXPECT_FALSE(wide.expert_bias.requires_grad());
  // A buffer, saved with the weights, not a parameter.
  EXPECT_EQ(wide.parameters().size(), 1u);
  bool saved = false;
  for (const auto& [name, t] : wide.state_dict()) saved = saved || name == "expert_bias";
  EXPECT_TRUE(saved);
}

TEST(BiasBalancedGate, AutoUpdateOnlyInTraining) {
  auto owned = hand_bias_gate(1, 0.125);
  BiasBalancedGate& gate = *owned;
  // Top-1 picks: expert 0, expert 1, expert 0 -> loads [2, 1, 0], mean 1.
  Tensor x = tensor({{2.0, 1.0}, {0.0, 3.0}, {3.0, 0.0}}, kFloat64);
  gate.eval();
  gate.route(x);
  expect_values(gate.expert_bias, {3}, {0.0, 0.0, 0.0});
  gate.train();
  Routing r = gate.route(x);
  expect_values(r.expert_index, {3, 1}, {0, 1, 0});  // chosen with the bias from before
  expect_values(gate.expert_bias, {3}, {-0.125, 0.0, 0.125});

  BiasBalancedGate manual({.d_model = 2, .num_experts = 3, .k = 1, .auto_update = false});
  manual.route(tensor({{2.f, 1.f}}));
  expect_values(manual.expert_bias, {3}, {0.0, 0.0, 0.0});
}

TEST(BiasBalancedGate, MoEMatchesBruteForceOutputsAndGradients) {
  manual_seed(13);
  auto gate = std::make_shared<BiasBalancedGate>(BiasBalancedGateOptions{
      .d_model = 6, .num_experts = 4, .k = 2, .auto_update = false, .tensor_options = kFloat64});
  {
    NoGradGuard no_grad;
    gate->expert_bias.copy_(tensor({0.3, -0.2, 0.1, 0.0}, kFloat64));
  }
  MoE moe(moe_options(6, 4, true), gate);
  Generator gen(3);
  Tensor x = randn({2, 5, 6}, kFloat64, &gen).requires_grad_();
  EXPECT_EQ(testing::expect_moe_matches_reference(moe, x).aux_loss.item<double>(), 0.0);
}

TEST(BiasBalancedGate, GatesGradcheckWrtInputAndWeight) {
  Tensor x = mixgrad::testing::grad_input({5, 3}, 3);
  Tensor w = mixgrad::testing::grad_input({4, 3}, 4);
  Tensor bias = tensor({0.2, -0.1, 0.0, 0.05}, kFloat64);
  for (BiasScore score : {BiasScore::Sigmoid, BiasScore::Softmax}) {
    EXPECT_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
          return bias_balanced_routing(in[0], in[1], bias, 2, score).gates;
        },
        (std::vector<Tensor>{x, w}));
  }
}

TEST(BiasBalancedGate, Errors) {
  EXPECT_MG_ERROR(BiasBalancedGate({.d_model = 2, .num_experts = 3, .k = 4}), "k=4");
  EXPECT_MG_ERROR(BiasBalancedGate({.d_model = 2, .num_experts = 3, .k = 0}), "k=0");
  EXPECT_MG_ERROR(
      BiasBalancedGate({.d_model = 2, .num_experts = 3, .k = 1, .bias_update_rate = -1.0}),
      "bias_update_rate");
  BiasBalancedGate gate({.d_model = 2, .num_experts = 3, .k = 1, .bias_update_rate = 0.5});
  EXPECT_MG_ERROR(gate.route(zeros({4, 3})), "BiasBalancedGate");
  EXPECT_MG_ERROR(gate.update_bias(tensor({1, 2})), "update_bias");
  EXPECT_MG_ERROR(gate.update_bias(zeros({1, 3})), "update_bias");
  EXPECT_MG_ERROR(gate.update_bias(Tensor()), "update_bias");
  expect_values(gate.expert_bias, {3}, {0.0, 0.0, 0.0});
  // No tokens: an empty routing, and equal (zero) loads leave the bias alone.
  Routing empty_routing = gate.route(zeros({0, 2}));
  EXPECT_EQ(empty_routing.gates.shape(), (Shape{0, 1}));
  expect_values(gate.expert_bias, {3}, {0.0, 0.0, 0.0});
}

}  // namespace
}  // namespace mixgrad::models
