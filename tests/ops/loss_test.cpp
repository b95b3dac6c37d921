#include <cmath>

#include "common/test_util.h"

namespace mg = mixgrad;
using mg::Reduction;
using mg::Tensor;
using Inputs = std::vector<Tensor>;
using mg::testing::expect_values;
using mg::testing::grad_input;

namespace {

// log(1 + exp(-x)) in closed form, for expected values.
double softplus_neg(double x) {
  return std::log1p(std::exp(-std::fabs(x))) + std::max(-x, 0.0);
}

// A float64 leaf in (0, 1) that requires grad: targets and probabilities for gradchecks.
Tensor unit_interval_input(const mg::Shape& shape, uint64_t seed) {
  mg::Generator gen(seed);
  return (mg::rand(shape, mg::kFloat64, &gen) * 0.8 + 0.1).requires_grad_();
}

}  // namespace

TEST(BinaryCrossEntropyWithLogits, ValuesForEachReduction) {
  auto x = mg::tensor({0.0, 2.0, -1.0});
  auto y = mg::tensor({1.0, 0.0, 0.5});
  // max(x, 0) - x y + log1p(exp(-|x|)), element by element.
  const std::vector<double> l = {std::log(2.0), 2 + std::log1p(std::exp(-2.0)),
                                 0.5 + std::log1p(std::exp(-1.0))};
  expect_values(mg::binary_cross_entropy_with_logits(x, y, Reduction::None), {3}, l, 1e-15);
  expect_values(mg::binary_cross_entropy_with_logits(x, y, Reduction::Sum), {},
                {l[0] + l[1] + l[2]}, 1e-15);
  expect_values(mg::binary_cross_entropy_with_logits(x, y), {}, {(l[0] + l[1] + l[2]) / 3}, 1e-15);
}

TEST(BinaryCrossEntropyWithLogits, WeightAndPosWeightBroadcast) {
  auto x = mg::tensor({{0.0, 2.0, -1.0}, {1.0, -3.0, 0.5}});
  auto y = mg::tensor({{1.0, 0.0, 0.5}, {0.0, 1.0, 1.0}});
  auto pos_weight = mg::tensor({3.0, 0.5, 2.0});  // per class (last dim)
  auto row_weight = mg::tensor({{2.0}, {-1.0}});  // per sample, broadcast over classes
  const auto xs = x.to_vector<double>(), ys = y.to_vector<double>();
  const auto pw = pos_weight.to_vector<double>();
  std::vector<double> plain, with_pos, weighted;
  for (size_t i = 0; i < 6; ++i) {
    const double sp = softplus_neg(xs[i]);
    plain.push_back((1 - ys[i]) * xs[i] + sp);
    with_pos.push_back((1 - ys[i]) * xs[i] + (1 + (pw[i % 3] - 1) * ys[i]) * sp);
    weighted.push_back(with_pos.back() * (i < 3 ? 2.0 : -1.0));
  }
  expect_values(mg::binary_cross_entropy_with_logits(x, y, Reduction::None), {2, 3}, plain, 1e-15);
  expect_values(mg::binary_cross_entropy_with_logits(x, y, Reduction::None, Tensor(), pos_weight),
                {2, 3}, with_pos, 1e-15);
  expect_values(mg::binary_cross_entropy_with_logits(x, y, Reduction::None, row_weight, pos_weight),
                {2, 3}, weighted, 1e-15);
  double total = 0;
  for (double v : weighted) total += v;
  // Mean divides by the element count, not by the sum of the weights (as PyTorch).
  expect_values(mg::binary_cross_entropy_with_logits(x, y, Reduction::Mean, row_weight, pos_weight),
                {}, {total / 6}, 1e-15);
}

TEST(BinaryCrossEntropyWithLogits, LargeLogitsStayFiniteAndExact) {
  auto x = mg::tensor({100.0, -100.0, 100.0, -100.0}).requires_grad_();
  auto y = mg::tensor({1.0, 1.0, 0.0, 0.0});
  auto loss = mg::binary_cross_entropy_with_logits(x, y, Reduction::None);
  const double tiny = std::log1p(std::exp(-100.0));  // 3.7e-44
  expect_values(loss, {4}, {tiny, 100, 100, 0}, 1e-300);
  loss.sum().backward();
  expect_values(x.grad(), {4}, {0, -1, 1, 0}, 1e-40);  // sigmoid(x) - y
  // float32 too, where exp(100) would overflow.
  auto xf = mg::tensor({100.f, -100.f, 30.f, -30.f}).requires_grad_();
  auto yf = mg::tensor({0.f, 1.f, 1.f, 0.f});
  auto lf = mg::binary_cross_entropy_with_logits(xf, yf, Reduction::None);
  expect_values(lf, {4}, {100, 100, 0, 0}, 1e-12);
  lf.sum().backward();
  expect_values(xf.grad(), {4}, {1, -1, 0, 0}, 1e-12);
}

TEST(BinaryCrossEntropyWithLogits, GradientAtZeroLogitIsSigmoidMinusTarget) {
  auto x = mg::tensor({0.0, 0.0}).requires_grad_();
  auto pw = mg::tensor({3.0});
  mg::binary_cross_entropy_with_logits(x, mg::tensor({1.0, 0.25}), Reduction::Sum, Tensor(), pw)
      .backward();
  // (1 - y) - (1 + (pw - 1) y) * sigmoid(0)
  expect_values(x.grad(), {2}, {0 - 3 * 0.5, 0.75 - 1.5 * 0.5}, 1e-15);
}

TEST(BinaryCrossEntropyWithLogits, Gradcheck) {
  auto x = grad_input({3, 4}, 1);
  auto y = unit_interval_input({3, 4}, 2);
  auto w = grad_input({3, 1}, 3);
  auto pw = (grad_input({4}, 4).abs() + 0.5).detach().requires_grad_();
  for (Reduction r : {Reduction::None, Reduction::Sum, Reduction::Mean}) {
    EXPECT_GRADCHECK(
        [r](const Inputs& in) { return mg::binary_cross_entropy_with_logits(in[0], in[1], r); },
        Inputs({x, y}));
    EXPECT_GRADCHECK(
        [r](const Inputs& in) {
          return mg::binary_cross_entropy_with_logits(in[0], in[1], r, in[2], in[3]);
        },
        Inputs({x, y, w, pw}));
  }
}

TEST(BinaryCrossEntropyWithLogits, Errors) {
  auto x = mg::zeros({2, 3});
  EXPECT_MG_ERROR(mg::binary_cross_entropy_with_logits(x, mg::zeros({3})),
                  "input of shape [2, 3] and target of shape [3] differ");
  EXPECT_MG_ERROR(mg::binary_cross_entropy_with_logits(x, mg::zeros({2, 3}, mg::kInt64)),
                  "must be floating");
  EXPECT_MG_ERROR(mg::binary_cross_entropy_with_logits(x, x, Reduction::Mean, mg::ones({4})),
                  "weight of shape [4] does not broadcast to the input shape [2, 3]");
  EXPECT_MG_ERROR(mg::binary_cross_entropy_with_logits(x, x, Reduction::Mean, mg::ones({2, 2, 3})),
                  "does not broadcast");
  EXPECT_MG_ERROR(
      mg::binary_cross_entropy_with_logits(x, x, Reduction::Mean, Tensor(), mg::ones({2})),
      "pos_weight of shape [2] does not broadcast");
}

TEST(BinaryCrossEntropy, ValuesWeightsAndClampedLogs) {
  auto p = mg::tensor({0.5, 0.9, 0.2, 0.0, 1.0});
  auto y = mg::tensor({1.0, 0.0, 0.25, 1.0, 1.0});
  const std::vector<double> l = {-std::log(0.5), -std::log(0.1),
                                 -(0.25 * std::log(0.2) + 0.75 * std::log(0.8)),
                                 100,  // log(0) clamped at -100
                                 0};
  expect_values(mg::binary_cross_entropy(p, y, Reduction::None), {5}, l, 1e-15);
  expect_values(mg::binary_cross_entropy(p, y, Reduction::Sum), {}, {l[0] + l[1] + l[2] + 100},
                1e-13);
  auto w = mg::tensor({2.0, 1.0, 1.0, 0.0, 1.0});
  expect_values(mg::binary_cross_entropy(p, y, Reduction::Mean, w), {},
                {(2 * l[0] + l[1] + l[2]) / 5}, 1e-15);
  // The gradient stays finite at p = 0 and p = 1: (p - y) / max(p (1 - p), 1e-12).
  auto pg = p.detach().requires_grad_();
  mg::binary_cross_entropy(pg, y, Reduction::Sum).backward();
  const std::vector<double> expected = {-0.5 / 0.25, 0.9 / 0.09, -0.05 / 0.16, -1e12, 0};
  const auto got = pg.grad().to_vector<double>();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], expected[i], 1e-12 * (1 + std::fabs(expected[i]))) << "element " << i;
}

TEST(BinaryCrossEntropy, GradcheckAndErrors) {
  auto p = unit_interval_input({2, 3}, 5);
  auto y = unit_interval_input({2, 3}, 6);
  auto w = grad_input({3}, 7);
  for (Reduction r : {Reduction::None, Reduction::Mean}) {
    EXPECT_GRADCHECK([r](const Inputs& in) { return mg::binary_cross_entropy(in[0], in[1], r); },
                     Inputs({p, y}));
    EXPECT_GRADCHECK(
        [r](const Inputs& in) { return mg::binary_cross_entropy(in[0], in[1], r, in[2]); },
        Inputs({p, y, w}));
  }
  EXPECT_MG_ERROR(mg::binary_cross_entropy(mg::tensor({0.5, 1.5}), mg::tensor({1.0, 0.0})),
                  "probabilities must lie in [0, 1], got values in [0.5");
  EXPECT_MG_ERROR(mg::binary_cross_entropy(mg::tensor({0.5}), mg::tensor({1.0, 0.0})), "differ");
  EXPECT_MG_ERROR(mg::binary_cross_entropy(mg::tensor({0.5}), mg::tensor({1.0}), Reduction::Mean,
                                           mg::ones({2})),
                  "weight of shape [2] does not broadcast");
}

TEST(L1Loss, ValuesGradientAndErrors) {
  auto a = mg::tensor({1.0, 2.0, 3.0}).requires_grad_();
  auto b = mg::tensor({1.0, 4.0, 0.5});
  expect_values(mg::l1_loss(a, b, Reduction::None), {3}, {0, 2, 2.5});
  expect_values(mg::l1_loss(a, b, Reduction::Sum), {}, {4.5});
  expect_values(mg::l1_loss(a, b), {}, {1.5});
  mg::l1_loss(a, b, Reduction::Sum).backward();
  expect_values(a.grad(), {3}, {0, -1, 1});  // sign, 0 where equal (as PyTorch)
  EXPECT_MG_ERROR(mg::l1_loss(a, mg::zeros({2})), "l1_loss");
  auto x = grad_input({2, 3}, 8), t = grad_input({2, 3}, 9);
  EXPECT_GRADCHECK([](const Inputs& in) { return mg::l1_loss(in[0], in[1]); }, Inputs({x, t}));
}

TEST(SmoothL1Loss, QuadraticInsideBetaLinearOutside) {
  auto a = mg::tensor({0.0, 0.5, 2.0, -3.0, 1.0}).requires_grad_();
  auto b = mg::zeros({5}, mg::kFloat64);
  // beta = 1: 0.5 d^2 for |d| < 1, |d| - 0.5 otherwise (|d| == beta takes the linear branch).
  const std::vector<double> l = {0, 0.125, 1.5, 2.5, 0.5};
  expect_values(mg::smooth_l1_loss(a, b, Reduction::None), {5}, l);
  expect_values(mg::smooth_l1_loss(a, b, Reduction::Sum), {}, {4.625});
  expect_values(mg::smooth_l1_loss(a, b), {}, {4.625 / 5});
  mg::smooth_l1_loss(a, b, Reduction::Sum).backward();
  expect_values(a.grad(), {5}, {0, 0.5, 1, -1, 1});
  // beta = 2: 0.25 d^2 inside, |d| - 1 outside.
  expect_values(mg::smooth_l1_loss(a, b, Reduction::None, 2.0), {5}, {0, 0.0625, 1, 2, 0.25});
}

TEST(SmoothL1Loss, BetaZeroIsL1AndErrors) {
  auto a = mg::tensor({0.0, 0.5, -3.0}).requires_grad_();
  auto b = mg::tensor({0.0, 0.0, 1.0});
  expect_values(mg::smooth_l1_loss(a, b, Reduction::None, 0.0), {3}, {0, 0.5, 4});
  mg::smooth_l1_loss(a, b, Reduction::Sum, 0.0).backward();
  expect_values(a.grad(), {3}, {0, 1, -1});  // finite: no 0 / beta branch
  EXPECT_MG_ERROR(mg::smooth_l1_loss(a, b, Reduction::Mean, -1.0),
                  "beta must be non-negative, got -1");
  EXPECT_MG_ERROR(mg::smooth_l1_loss(a, mg::zeros({2})),
                  "input of shape [3] and target of shape [2] differ");
}

TEST(SmoothL1Loss, Gradcheck) {
  auto x = grad_input({3, 4}, 10), t = grad_input({3, 4}, 11);
  for (double beta : {0.5, 1.0, 3.0}) {
    for (Reduction r : {Reduction::None, Reduction::Mean}) {
      auto loss = [r, beta](const Inputs& in) { return mg::smooth_l1_loss(in[0], in[1], r, beta); };
      EXPECT_GRADCHECK(loss, Inputs({x, t}));
    }
  }
}
