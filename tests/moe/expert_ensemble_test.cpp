#include "models/expert_ensemble.h"

#include <gtest/gtest.h>

#include "common/test_util.h"
#include "mixgrad.h"

namespace mixgrad::models {
namespace {

using mixgrad::testing::expect_close;

ExpertMLPOptions s001_options(int64_t experts) {
  return {.num_experts = experts,
          .sizes = {60, 256, 256, 256, 20},
          .activations = {Activation::ReLU, Activation::ReLU, Activation::ReLU, Activation::Tanh}};
}

// The s001 step: blend the experts' outputs with fixed softmax weights, MSE against a target.
Tensor blended_loss(const Tensor& outputs /*[E, B, out]*/, const Tensor& mix,
                    const Tensor& target) {
  return mse_loss((outputs * mix.reshape({-1, 1, 1})).sum({0}), target);
}

class ExpertEnsemble : public ::testing::TestWithParam<int64_t> {};

TEST_P(ExpertEnsemble, StackedEqualsIndependentExpertsWithGradients) {
  const int64_t experts = GetParam();
  manual_seed(7);
  IndependentExpertMLPs loop(s001_options(experts));
  StackedExpertMLP stacked(s001_options(experts));
  stacked.copy_from(loop);
  Generator gen(1);
  Tensor x = randn({32, 60}, {}, &gen);
  Tensor target = randn({32, 20}, {}, &gen);
  Tensor mix = softmax(randn({experts}, {}, &gen), 0);

  Tensor y_loop = loop(x), y_stacked = stacked(x);
  ASSERT_EQ(y_stacked.shape(), (Shape{experts, 32, 20}));
  expect_close(y_stacked, y_loop, 1e-5, 1e-5);
  blended_loss(y_loop, mix, target).backward();
  blended_loss(y_stacked, mix, target).backward();
  for (int64_t e = 0; e < experts; ++e) {
    for (int64_t l = 0; l < 4; ++l) {
      SCOPED_TRACE("expert " + std::to_string(e) + " layer " + std::to_string(l));
      const nn::Linear& linear = loop.layer(e, l);
      expect_close(stacked.weights[l].grad().select(0, e), linear.weight.grad().t(), 1e-5, 1e-5);
      expect_close(stacked.biases[l].grad().select(0, e).select(0, 0), linear.bias.grad(), 1e-5,
                   1e-5);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Experts, ExpertEnsemble, ::testing::Values(4, 8));

TEST(StackedExpertMLP, PerExpertInputsCopyBackAndErrors) {
  ExpertMLPOptions options{.num_experts = 3,
                           .sizes = {4, 5, 2},
                           .activations = {Activation::GELU, Activation::Identity},
                           .tensor_options = kFloat64};
  StackedExpertMLP stacked(options);
  IndependentExpertMLPs loop(options);
  stacked.copy_to(loop);
  Generator gen(3);
  Tensor x = randn({3, 6, 4}, kFloat64, &gen);  // one input per expert
  Tensor y = stacked(x);
  for (int64_t e = 0; e < 3; ++e) {
    Tensor expected = loop.layer(e, 1)(gelu(loop.layer(e, 0)(x.select(0, e))));
    expect_close(y.select(0, e), expected, 1e-12, 1e-12);
  }
  EXPECT_EQ(stacked.extra_repr(), "experts=3, sizes=4-5-2");
  EXPECT_MG_ERROR(stacked(zeros({6, 5}, kFloat64)), "input must be [batch, 4] or [3, batch, 4]");
  options.activations = {Activation::SwiGLU, Activation::Identity};
  EXPECT_MG_ERROR(StackedExpertMLP{options}, "gated activations (SwiGLU)");
  EXPECT_MG_ERROR(IndependentExpertMLPs{options}, "gated activations (SwiGLU)");
  options.activations.pop_back();
  EXPECT_MG_ERROR(StackedExpertMLP{options}, "expected 2 activations");
  options.sizes = {4};
  EXPECT_MG_ERROR(IndependentExpertMLPs{options}, "needs an input and at least one layer");
}

}  // namespace
}  // namespace mixgrad::models
