#include "models/moe.h"

#include <gtest/gtest.h>

#include "common/test_util.h"
#include "mixgrad.h"
#include "moe/moe_reference.h"

namespace mixgrad::models {
namespace {

using mixgrad::testing::expect_close;

MoEOptions small_moe(int64_t k, TopKMode mode, bool dropless, int64_t min_capacity = 4) {
  return {.d_model = 6,
          .hidden = 8,
          .num_experts = 4,
          .k = k,
          .gate_mode = mode,
          .switch_loss_coef = 0.01,
          .z_loss_coef = 0.001,
          .capacity_factor_train = 0.5,
          .min_capacity = min_capacity,
          .dropless = dropless,
          .tensor_options = kFloat64};
}

struct Case {
  int64_t k;
  TopKMode mode;
  bool dropless;
};

class MoEAgainstBruteForce : public ::testing::TestWithParam<Case> {};

TEST_P(MoEAgainstBruteForce, OutputsAndGradientsAgree) {
  const Case c = GetParam();
  manual_seed(11);
  // min_capacity 1 with capacity factor 0.5 leaves one slot per expert: drops happen.
  MoE moe(small_moe(c.k, c.mode, c.dropless, 1));
  Generator gen(2);
  Tensor x = randn({2, 5, 6}, kFloat64, &gen).requires_grad_();
  const MoEOutput out = testing::expect_moe_matches_reference(moe, x);
  if (c.dropless) {
    EXPECT_EQ(out.dropped, 0);
  } else {
    EXPECT_GT(out.dropped, 0);
  }
  EXPECT_EQ(out.tokens_per_expert.sum().item<int64_t>(), 10 * c.k - out.dropped);
}

INSTANTIATE_TEST_SUITE_P(Gates, MoEAgainstBruteForce,
                         ::testing::Values(Case{1, TopKMode::SoftmaxThenTopK, false},
                                           Case{2, TopKMode::SoftmaxThenTopK, false},
                                           Case{3, TopKMode::SoftmaxThenTopK, false},
                                           Case{1, TopKMode::TopKThenSoftmax, true},
                                           Case{2, TopKMode::TopKThenSoftmax, false},
                                           Case{3, TopKMode::TopKThenSoftmax, true},
                                           Case{2, TopKMode::SoftmaxThenTopK, true}));

TEST(MoE, DroppedTokensOutputZeroWithTopOne) {
  manual_seed(4);
  MoE moe(small_moe(1, TopKMode::SoftmaxThenTopK, false, 1));
  Generator gen(5);
  Tensor x = randn({12, 6}, kFloat64, &gen);
  MoEOutput out = moe(x);
  Routing r = moe.gate->route(x);
  Tensor kept = lt(expert_positions(r.expert_index, 4), 1).reshape({-1});
  ASSERT_EQ(out.dropped, 12 - kept.to(kInt64).sum().item<int64_t>());
  auto keep = kept.to_vector<bool>();
  for (int64_t t = 0; t < 12; ++t) {
    double magnitude = out.output.select(0, t).abs().sum().item<double>();
    if (keep[t]) {
      EXPECT_GT(magnitude, 0.0) << "token " << t;
    } else {
      EXPECT_EQ(magnitude, 0.0) << "token " << t;
    }
  }
  // At most one token per expert survives (capacity 1).
  for (int64_t n : out.tokens_per_expert.to_vector<int64_t>()) EXPECT_LE(n, 1);
}

TEST(TopKGate, BothModesGiveTheSameWeightsAndHandComputedLosses) {
  TopKGate a({.d_model = 2,
              .num_experts = 3,
              .k = 2,
              .switch_loss_coef = 0.5,
              .z_loss_coef = 0.25,
              .tensor_options = kFloat64});
  TopKGate b({.d_model = 2,
              .num_experts = 3,
              .k = 2,
              .mode = TopKMode::TopKThenSoftmax,
              .tensor_options = kFloat64});
  {
    NoGradGuard no_grad;
    a.weight.copy_(tensor({{1.0, 0.0}, {0.0, 1.0}, {0.0, 0.0}}, kFloat64));
    b.weight.copy_(a.weight);
  }
  Tensor x = tensor({{2.0, 1.0}, {0.0, 3.0}}, kFloat64);  // logits [2, 1, 0] and [0, 3, 0]
  Routing ra = a.route(x), rb = b.route(x);
  mixgrad::testing::expect_values(ra.expert_index, {2, 2}, {0, 1, 1, 0});
  ASSERT_EQ(ra.losses.size(), 2u);
  EXPECT_EQ(ra.losses[0].first, "switch");
  EXPECT_EQ(ra.losses[1].first, "z");
  expect_close(ra.gates, rb.gates, 1e-15, 0);
  const double e = std::exp(1.0);
  mixgrad::testing::expect_values(
      ra.gates, {2, 2},
      {e / (e + 1), 1 / (e + 1), std::exp(3.0) / (std::exp(3.0) + 1), 1 / (std::exp(3.0) + 1)},
      1e-15);
  // f = [2, 2, 0] / 4; P = mean of the two softmaxes.
  const double z1 = std::exp(2.0) + e + 1, z2 = std::exp(3.0) + 2;
  const double p0 = (std::exp(2.0) / z1 + 1 / z2) / 2, p1 = (e / z1 + std::exp(3.0) / z2) / 2;
  mixgrad::testing::expect_values(ra.losses.at(0).second, {}, {0.5 * 3 * (0.5 * p0 + 0.5 * p1)},
                                  1e-14);
  const double lse1 = std::log(z1), lse2 = std::log(z2);
  mixgrad::testing::expect_values(ra.losses.at(1).second, {},
                                  {0.25 * (lse1 * lse1 + lse2 * lse2) / 2}, 1e-13);
  // Top-k-then-softmax sends no gradient to unselected logits: expert 2 is selected by neither
  // token, so its router row gets none.
  rb.gates.select(1, 0).sum().backward();
  mixgrad::testing::expect_values(b.weight.grad().select(0, 2), {2}, {0, 0});
}

TEST(MoE, SharedExpertsSeeEveryToken) {
  manual_seed(6);
  MoEOptions options = small_moe(2, TopKMode::SoftmaxThenTopK, true);
  options.shared_experts = 2;
  options.shared_hidden = 3;
  MoE moe(options);
  ASSERT_NE(moe.shared, nullptr);
  EXPECT_EQ(moe.find_tensor("shared.0.weight").shape(), (Shape{6, 6}));  // 2 experts x width 3
  Generator gen(7);
  Tensor x = randn({5, 6}, kFloat64, &gen).requires_grad_();
  Tensor expected =
      testing::moe_reference(moe, x).routed +
      linear(gelu(linear(x, moe.find_tensor("shared.0.weight"), moe.find_tensor("shared.0.bias"))),
             moe.find_tensor("shared.2.weight"), moe.find_tensor("shared.2.bias"));
  Tensor y = moe(x).output;
  expect_close(y, expected, 1e-12, 1e-12);
  y.sum().backward();
  EXPECT_GT(moe.find_tensor("shared.0.weight").grad().abs().sum().item<double>(), 0.0);
  options.shared_experts = -1;
  EXPECT_MG_ERROR(MoE{options}, "must not be negative");
}

TEST(MoE, ShapesStatisticsAndErrors) {
  MoE moe(small_moe(2, TopKMode::SoftmaxThenTopK, true));
  MoEOutput out = moe(zeros({3, 4, 6}, kFloat64));
  EXPECT_EQ(out.output.shape(), (Shape{3, 4, 6}));
  EXPECT_EQ(out.tokens_per_expert.shape(), (Shape{4}));
  // Zero input: uniform router probabilities, entropy log(4).
  mixgrad::testing::expect_values(out.gate_entropy, {}, {std::log(4.0)}, 1e-12);
  EXPECT_MG_ERROR(moe(zeros({3, 5}, kFloat64)), "input must be [..., 6]");
  EXPECT_MG_ERROR(MoE(small_moe(5, TopKMode::SoftmaxThenTopK, true)),
                  "k=5 must be in [1, num_experts=4]");
  MoEOptions bad = small_moe(2, TopKMode::SoftmaxThenTopK, false);
  bad.capacity_factor_train = 0;
  EXPECT_MG_ERROR(MoE{bad}, "capacity factors must be positive");
  EXPECT_MG_ERROR(moe.gate->route(zeros({2, 5}, kFloat64)), "input must be [tokens, 6]");
  auto other_gate = std::make_shared<TopKGate>(
      TopKGateOptions{.d_model = 6, .num_experts = 3, .tensor_options = kFloat64});
  EXPECT_MG_ERROR(MoE(small_moe(2, TopKMode::SoftmaxThenTopK, true), other_gate),
                  "the gate routes 3 experts of width 6; the layer has 4");
}

}  // namespace
}  // namespace mixgrad::models
