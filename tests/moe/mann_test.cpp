#include "models/mann.h"

#include <gtest/gtest.h>

#include "common/test_util.h"
#include "mixgrad.h"

namespace mixgrad::models {
namespace {

using mixgrad::testing::expect_close;

MANNOptions small_options() {
  return {.input_dim = 6,
          .output_dim = 4,
          .gating_indices = {1, 4},
          .num_experts = 3,
          .hidden = 5,
          .gating_hidden = 7,
          .dropout = 0.3,
          .tensor_options = kFloat64};
}

TEST(MANN, MatchesItsDefinitionInEvalMode) {
  manual_seed(2);
  MANN mann(small_options());
  mann.eval();
  Generator gen(9);
  Tensor x = randn({5, 6}, kFloat64, &gen);
  // Gating: ELU MLP on columns 1 and 4, softmax over experts.
  auto fc = [&](const std::string& prefix, const Tensor& in) {
    return linear(in, mann.find_tensor(prefix + ".weight"), mann.find_tensor(prefix + ".bias"));
  };
  Tensor g = index_select(x, 1, tensor({1, 4}, kInt64));
  Tensor alpha = softmax(fc("gating.4", elu(fc("gating.2", elu(fc("gating.0", g))))), 1);
  expect_close(mann.blend_coefficients(x), alpha, 1e-14, 0);
  // Motion network: per-sample blended weights, ELU between layers.
  auto blended = [&](int layer, const Tensor& in) {
    Tensor w = mann.find_tensor("layers." + std::to_string(layer) + ".weight");
    Tensor b = mann.find_tensor("layers." + std::to_string(layer) + ".bias");
    Tensor wb = matmul(alpha, w.reshape({3, -1})).reshape({5, w.size(1), w.size(2)});
    return bmm(wb, in.unsqueeze(2)).squeeze(2) + matmul(alpha, b);
  };
  Tensor expected = blended(2, elu(blended(1, elu(blended(0, x)))));
  expect_close(mann(x), expected, 1e-12, 1e-12);
}

TEST(MANN, TrainsEveryParameterAndUsesDropoutOnlyInTraining) {
  MANN mann(small_options());
  Generator gen(4);
  Tensor x = randn({8, 6}, kFloat64, &gen);
  mann.train();
  mse_loss(mann(x), zeros({8, 4}, kFloat64)).backward();
  for (const auto& [name, p] : mann.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_GT(p.grad().abs().sum().item<double>(), 0.0) << name;
  }
  mann.eval();
  expect_close(mann(x), mann(x), 0, 0);
}

TEST(MANN, DefaultSizesAndErrors) {
  MANNOptions options;
  options.gating_indices = {0, 1, 2};
  MANN mann(options);
  const int64_t motion = 8 * (480 * 512 + 512 + 512 * 512 + 512 + 512 * 363 + 363);
  const int64_t gating = 3 * 32 + 32 + 32 * 32 + 32 + 32 * 8 + 8;
  EXPECT_EQ(mann.num_parameters(), motion + gating);
  EXPECT_MG_ERROR(mann(zeros({2, 479})), "input must be [batch, 480]");
  options.gating_indices = {480};
  EXPECT_MG_ERROR(MANN{options}, "gating index 480 is outside");
  options.gating_indices = {};
  EXPECT_MG_ERROR(MANN{options}, "needs input features");
}

}  // namespace
}  // namespace mixgrad::models
