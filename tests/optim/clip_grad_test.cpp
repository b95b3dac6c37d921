#include <cmath>
#include <limits>

#include "optim/optim_test_util.h"

namespace mg = mixgrad;
namespace optim = mixgrad::optim;
using mg::Tensor;
using mg::optim::testing::param;
using mg::optim::testing::set_grad;
using mg::testing::expect_values;

TEST(ClipGradNorm, ScalesAllGradientsByOneCoefficient) {
  Tensor a = param({0.0, 0.0}), b = param({0.0}), unused = param({0.0});
  set_grad(a, {3.0, 4.0});
  set_grad(b, {12.0});
  // ||[3, 4, 12]|| = 13.
  EXPECT_EQ(optim::clip_grad_norm({a, b, unused}, 1.3), 13.0);
  const double c = 1.3 / (13.0 + 1e-6);
  expect_values(a.grad(), {2}, {3 * c, 4 * c}, 1e-15);
  expect_values(b.grad(), {1}, {12 * c}, 1e-15);
  EXPECT_FALSE(unused.grad().defined());
}

TEST(ClipGradNorm, LeavesSmallGradientsAlone) {
  Tensor a = param({0.0, 0.0});
  set_grad(a, {3.0, 4.0});
  EXPECT_EQ(optim::clip_grad_norm({a}, 5.0), 5.0);  // coefficient 5 / (5 + 1e-6) < 1: scaled
  expect_values(a.grad(), {2}, {3 * 5 / (5 + 1e-6), 4 * 5 / (5 + 1e-6)}, 1e-15);
  set_grad(a, {3.0, 4.0});
  EXPECT_EQ(optim::clip_grad_norm({a}, 6.0), 5.0);
  expect_values(a.grad(), {2}, {3.0, 4.0});
  EXPECT_EQ(optim::clip_grad_norm({param({1.0})}, 1.0), 0.0);  // no gradients at all
}

TEST(ClipGradNorm, OtherNormTypes) {
  Tensor a = param({0.0, 0.0}), b = mg::tensor({0.0f}).requires_grad_();
  set_grad(a, {-7.0, 2.0});
  set_grad(b, {5.0});
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(optim::clip_grad_norm({a, b}, 3.5, inf), 7.0);
  const double c = 3.5 / (7.0 + 1e-6);
  expect_values(a.grad(), {2}, {-7 * c, 2 * c}, 1e-15);
  expect_values(b.grad(), {1}, {5 * c}, 1e-6);  // float32 gradient
  set_grad(a, {-7.0, 2.0});
  set_grad(b, {5.0});
  EXPECT_EQ(optim::clip_grad_norm({a, b}, 100.0, 1.0), 14.0);
  // b's norm is computed in float32.
  EXPECT_NEAR(optim::clip_grad_norm({a, b}, 100.0, 3.0), std::cbrt(343.0 + 8.0 + 125.0), 1e-6);
  Tensor empty = param({});
  set_grad(empty, {});
  EXPECT_EQ(optim::clip_grad_norm({empty}, 1.0, inf), 0.0);  // an empty gradient adds nothing
}

TEST(ClipGradNorm, NonFiniteNorms) {
  Tensor a = param({0.0, 0.0});
  set_grad(a, {NAN, 1.0});
  // As PyTorch's default: the NaN norm is returned and the gradients become NaN.
  EXPECT_TRUE(std::isnan(optim::clip_grad_norm({a}, 1.0)));
  EXPECT_TRUE(std::isnan(a.grad().to_vector<double>()[1]));
  set_grad(a, {INFINITY, 1.0});
  EXPECT_MG_ERROR(optim::clip_grad_norm({a}, 1.0, 2.0, /*error_if_nonfinite=*/true),
                  "clip_grad_norm: the total norm of order 2 of the gradients is inf");
  expect_values(a.grad(), {2}, {INFINITY, 1.0});  // unchanged
  EXPECT_EQ(optim::clip_grad_norm({a}, 1.0, INFINITY), INFINITY);
  expect_values(a.grad(), {2}, {NAN, 0.0});  // inf * 0, 1 * 0
}

TEST(ClipGradNorm, RejectsBadArguments) {
  Tensor a = param({1.0});
  EXPECT_MG_ERROR(optim::clip_grad_norm({a}, -1.0), "max_norm = -1 must be >= 0");
  EXPECT_MG_ERROR(optim::clip_grad_norm({a}, NAN), "max_norm = nan");
  EXPECT_MG_ERROR(optim::clip_grad_norm({a}, 1.0, 0.0), "norm_type = 0 must be > 0");
  EXPECT_MG_ERROR(optim::clip_grad_norm({a}, 1.0, -INFINITY), "norm_type = -inf");
  EXPECT_MG_ERROR(optim::clip_grad_norm({a, Tensor()}, 1.0), "parameter 1 is an undefined tensor");
  // A gradient that cannot be scaled in place stops the clipping before any gradient changes.
  Tensor b = param({0.0, 0.0});
  set_grad(a, {10.0});
  b.set_grad(mg::full({1}, 10.0, mg::kFloat64).expand({2}));
  EXPECT_MG_ERROR(optim::clip_grad_norm({a, b}, 1.0),
                  "the gradient of parameter 1 (shape [2], strides [0]) has elements that overlap");
  expect_values(a.grad(), {1}, {10.0});
}

TEST(ClipGradValue, ClampsEveryElement) {
  Tensor a = param({0.0, 0.0, 0.0}), b = param({0.0});
  set_grad(a, {-3.0, 0.5, 2.0});
  optim::clip_grad_value({a, b}, 1.0);
  expect_values(a.grad(), {3}, {-1.0, 0.5, 1.0});
  EXPECT_FALSE(b.grad().defined());
  EXPECT_MG_ERROR(optim::clip_grad_value({a}, -0.5), "clip_grad_value: clip_value = -0.5");
}
