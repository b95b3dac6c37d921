// adam_step_: the fused CPU kernel against the composite tensor-op form (taken for strided
// tensors), every option, and the argument checks.
#include <cmath>

#include "common/test_util.h"

namespace mixgrad {
namespace {

using testing::expect_close;

struct AdamTensors {
  Tensor param, grad, m, v, v_max;
};

// Random state of shape [rows, cols]; `strided` gives transposed views (not contiguous) of the
// same values, which the op updates through the composite path.
AdamTensors random_state(DType dtype, bool strided) {
  Generator gen(7);
  auto make = [&](double scale, bool positive) {
    Tensor t = randn({5, 7}, TensorOptions(dtype), &gen) * scale;
    if (positive) t = t.abs();
    return strided ? t.t().contiguous().t() : t.contiguous();
  };
  return {make(1, false), make(0.5, false), make(0.1, false), make(0.01, true), make(0.02, true)};
}

class AdamStepOp : public ::testing::TestWithParam<std::tuple<DType, int>> {};

TEST_P(AdamStepOp, FusedKernelEqualsTheCompositeForm) {
  const auto [dtype, variant] = GetParam();
  kernels::AdamStep step{.step_size = 0.01 / (1 - std::pow(0.9, 3)),
                         .beta1 = 0.9,
                         .beta2 = 0.999,
                         .eps = 1e-8,
                         .bias_correction2_sqrt = std::sqrt(1 - std::pow(0.999, 3))};
  if (variant == 1) step.l2 = 0.05;     // Adam's weight decay
  if (variant == 2) step.decay = 1e-3;  // AdamW's
  if (variant == 3) step.amsgrad = true;
  AdamTensors fused = random_state(dtype, false), composite = random_state(dtype, true);
  ASSERT_TRUE(fused.param.is_contiguous());
  ASSERT_FALSE(composite.param.is_contiguous());
  for (int i = 0; i < 3; ++i) {
    adam_step_(fused.param, fused.grad, fused.m, fused.v, fused.v_max, step);
    adam_step_(composite.param, composite.grad, composite.m, composite.v, composite.v_max, step);
  }
  const double tol = dtype == kFloat64 ? 1e-13 : 2e-6, rtol = dtype == kFloat64 ? 1e-12 : 1e-5;
  expect_close(fused.param, composite.param, tol, rtol);
  expect_close(fused.m, composite.m, tol, rtol);
  expect_close(fused.v, composite.v, tol, rtol);
  if (step.amsgrad) expect_close(fused.v_max, composite.v_max, tol, rtol);
  // The update moved the parameter against the first moment.
  EXPECT_GT((fused.param - random_state(dtype, false).param).abs().max().item<double>(), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(AllOptions, AdamStepOp,
                         ::testing::Combine(::testing::Values(kFloat32, kFloat64),
                                            ::testing::Values(0, 1, 2, 3)));

TEST(AdamStepOp, OneElementByHand) {
  Tensor p = tensor({1.0}), g = tensor({0.5}), m = tensor({0.0}), v = tensor({0.0});
  // First step: m = 0.05, v = 0.00025, bias-corrected m / sqrt(v) = 1, so p -= lr.
  adam_step_(p, g, m, v, Tensor(),
             {.step_size = 0.1 / (1 - 0.9), .bias_correction2_sqrt = std::sqrt(1 - 0.999)});
  EXPECT_NEAR(m.item<double>(), 0.05, 1e-15);
  EXPECT_NEAR(v.item<double>(), 0.00025, 1e-15);
  EXPECT_NEAR(p.item<double>(), 0.9, 1e-6);
}

TEST(AdamStepOp, BumpsTheVersionOfWhatItWrites) {
  AdamTensors s = random_state(kFloat32, false);
  const uint64_t before = s.param.version(), m_before = s.m.version();
  adam_step_(s.param, s.grad, s.m, s.v, Tensor(), {.step_size = 0.1});
  EXPECT_GT(s.param.version(), before);
  EXPECT_GT(s.m.version(), m_before);
}

TEST(AdamStepOp, RefusesMismatchedState) {
  AdamTensors s = random_state(kFloat32, false);
  EXPECT_MG_ERROR(adam_step_(s.param, zeros({3}), s.m, s.v, Tensor(), {}),
                  "grad must match the parameter");
  EXPECT_MG_ERROR(adam_step_(s.param, s.grad, s.m.to(kFloat64), s.v, Tensor(), {}),
                  "exp_avg must match");
  EXPECT_MG_ERROR(adam_step_(s.param, s.grad, s.m, s.v, Tensor(), {.amsgrad = true}),
                  "max_exp_avg_sq is undefined");
  EXPECT_MG_ERROR(adam_step_(zeros({2}, kInt64), zeros({2}, kInt64), zeros({2}, kInt64),
                             zeros({2}, kInt64), Tensor(), {}),
                  "must be a floating tensor");
}

}  // namespace
}  // namespace mixgrad
