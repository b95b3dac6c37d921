#include <gtest/gtest.h>

#include <numbers>

#include "common/test_util.h"
#include "mixgrad.h"
#include "models/blended_linear.h"
#include "models/phase_function.h"

namespace mixgrad::models {
namespace {

using mixgrad::testing::expect_close;
using mixgrad::testing::grad_input;

// The definition, one sample at a time: W_b = sum_e alpha[b, e] W_e, y_b = W_b x_b + b_b.
Tensor explicit_blend(const Tensor& x, const Tensor& alpha, const Tensor& weight,
                      const Tensor& bias) {
  std::vector<Tensor> rows;
  for (int64_t b = 0; b < x.size(0); ++b) {
    Tensor w, c;
    for (int64_t e = 0; e < weight.size(0); ++e) {
      Tensor a = alpha.select(0, b).select(0, e);
      Tensor we = weight.select(0, e) * a, be = bias.select(0, e) * a;
      w = w.defined() ? w + we : we;
      c = c.defined() ? c + be : be;
    }
    rows.push_back(matmul(w, x.select(0, b)) + c);
  }
  return stack(rows, 0);
}

TEST(BlendedLinear, BothEvaluationsEqualExplicitBlendingWithGradients) {
  manual_seed(3);
  BlendedLinear layer(5, 3, 4, {.tensor_options = kFloat64});
  {
    NoGradGuard no_grad;
    layer.bias.detach().normal_();  // non-zero biases, so their blending is tested too
  }
  for (int64_t batch : {1, 6}) {
    Tensor x = grad_input({batch, 5}, 10 + batch);
    Tensor alpha = softmax(grad_input({batch, 4}, 20 + batch), 1).detach().requires_grad_();
    Tensor reference = explicit_blend(x, alpha, layer.weight, layer.bias);
    reference.square().sum().backward();
    std::vector<Tensor> expected_grads = {x.grad(), alpha.grad(), layer.weight.grad(),
                                          layer.bias.grad()};
    for (BlendMode mode : {BlendMode::Weights, BlendMode::Outputs, BlendMode::Auto}) {
      SCOPED_TRACE(static_cast<int>(mode));
      for (const Tensor& t : {x, alpha, layer.weight, layer.bias}) t.zero_grad();
      Tensor y = layer.forward(x, alpha, mode);
      expect_close(y, reference, 1e-12, 1e-12);
      y.square().sum().backward();
      std::vector<Tensor> grads = {x.grad(), alpha.grad(), layer.weight.grad(), layer.bias.grad()};
      for (std::size_t i = 0; i < grads.size(); ++i)
        expect_close(grads[i], expected_grads[i], 1e-12, 1e-12);
    }
    for (const Tensor& t : {x, alpha, layer.weight, layer.bias}) t.zero_grad();
  }
}

TEST(BlendedLinear, GradcheckBothEvaluations) {
  BlendedLinear layer(3, 2, 3, {.tensor_options = kFloat64});
  for (BlendMode mode : {BlendMode::Weights, BlendMode::Outputs}) {
    EXPECT_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
          return layer.forward(in[0], softmax(in[1], 1), mode);
        },
        (std::vector<Tensor>{grad_input({4, 3}, 1), grad_input({4, 3}, 2)}));
  }
}

TEST(BlendedLinear, InitialisationShapesAndErrors) {
  manual_seed(1);
  BlendedLinear layer(480, 512, 8);
  EXPECT_EQ(layer.weight.shape(), (Shape{8, 512, 480}));
  EXPECT_EQ(layer.bias.shape(), (Shape{8, 512}));
  const double bound = std::sqrt(6.0 / (512.0 * 480.0));
  EXPECT_LE(layer.weight.abs().max().item<double>(), bound);
  EXPECT_GT(layer.weight.abs().max().item<double>(), 0.99 * bound);
  EXPECT_EQ(layer.bias.abs().sum().item<double>(), 0.0);
  EXPECT_EQ(layer.extra_repr(), "in_features=480, out_features=512, experts=8");
  EXPECT_MG_ERROR(layer(zeros({2, 479}), zeros({2, 8})), "input must be [batch, 480]");
  EXPECT_MG_ERROR(layer(zeros({2, 480}), zeros({2, 7})), "blending coefficients must be [2, 8]");
  EXPECT_MG_ERROR(BlendedLinear(4, 4, 0), "sizes must be positive");
}

TEST(PhaseFunction, HitsTheControlWeightsAtTheControlPhases) {
  Generator gen(5);
  Tensor control = randn({4, 2, 3}, kFloat64, &gen);
  const double quarter = std::numbers::pi / 2;
  Tensor phase = tensor({0.0, quarter, 2 * quarter, 3 * quarter, 4 * quarter}, kFloat64);
  Tensor w = phase_function(control, phase);
  EXPECT_EQ(w.shape(), (Shape{5, 2, 3}));
  for (int64_t i = 0; i < 4; ++i) expect_close(w.select(0, i), control.select(0, i), 1e-12, 0);
  expect_close(w.select(0, 4), control.select(0, 0), 1e-12, 0);  // 2pi wraps to 0
}

TEST(PhaseFunction, IsContinuousAcrossTwoPiAndTheKnots) {
  Generator gen(6);
  Tensor control = randn({4, 5}, kFloat64, &gen);
  const double two_pi = 2 * std::numbers::pi, eps = 1e-9;
  for (double knot : {0.0, two_pi / 4, two_pi / 2, 3 * two_pi / 4, two_pi}) {
    Tensor w = phase_function(control, tensor({knot - eps, knot + eps}, kFloat64));
    expect_close(w.select(0, 0), w.select(0, 1), 1e-7, 0);
  }
}

TEST(PhaseFunction, MatchesTheSplineFormulaAndItsGradients) {
  Generator gen(7);
  Tensor control = randn({4, 3}, kFloat64, &gen);
  // phase 5pi/4 + : w = 2.5 + 0.2 = 2.7 -> k = 2, mu = 0.7, sets 1, 2, 3, 0.
  const double w = 2.7, mu = 0.7;
  Tensor phase = tensor({w * 2 * std::numbers::pi / 4}, kFloat64);
  Tensor y0 = control[1], y1 = control[2], y2 = control[3], y3 = control[0];
  Tensor expected = y1 + (y0 * -0.5 + y2 * 0.5) * mu +
                    (y0 - y1 * 2.5 + y2 * 2.0 - y3 * 0.5) * (mu * mu) +
                    (y0 * -0.5 + y1 * 1.5 - y2 * 1.5 + y3 * 0.5) * (mu * mu * mu);
  expect_close(phase_function(control, phase).select(0, 0), expected, 1e-12, 1e-12);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return phase_function(in[0], in[1]); },
                   (std::vector<Tensor>{grad_input({4, 2, 2}, 1),
                                        tensor({0.3, 2.0, 4.1, 5.9}, kFloat64).requires_grad_()}));
  EXPECT_MG_ERROR(phase_function(zeros({3, 2}), zeros({1})), "must be [4, ...]");
  EXPECT_MG_ERROR(phase_function(zeros({4, 2}), zeros({1}, kFloat64)), "phase must be a 1-D");
}

}  // namespace
}  // namespace mixgrad::models
