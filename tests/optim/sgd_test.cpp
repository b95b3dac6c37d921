#include "optim/optim_test_util.h"

namespace mg = mixgrad;
namespace optim = mixgrad::optim;
using mg::Tensor;
using mg::optim::testing::param;
using mg::optim::testing::step_with;
using mg::testing::expect_values;

// The gradients every SGD test feeds, one row per step.
const std::vector<std::vector<double>> kGrads = {{0.5, -1.0}, {0.2, 0.4}, {-0.1, 0.3}};

TEST(SGD, PlainStepsSubtractLrTimesGradient) {
  Tensor p = param({1.0, -2.0});
  optim::SGD opt({p}, {.lr = 0.1});
  step_with(opt, {p}, {kGrads[0]});
  expect_values(p, {2}, {0.95, -1.9}, 1e-15);
  step_with(opt, {p}, {kGrads[1]});
  expect_values(p, {2}, {0.93, -1.94}, 1e-15);
  step_with(opt, {p}, {kGrads[2]});
  expect_values(p, {2}, {0.94, -1.97}, 1e-15);
  EXPECT_EQ(opt.step_count(), 3);
  EXPECT_EQ(opt.param_state(0, 0).step, 3);
  EXPECT_FALSE(opt.param_state(0, 0).buffers[0].defined());  // no momentum, no buffer
}

TEST(SGD, MomentumWithDampeningStartsFromTheFirstGradient) {
  Tensor p = param({1.0, -2.0});
  optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1});
  // Step 1: buf = g1 (undamped), p -= 0.1 * buf.
  step_with(opt, {p}, {kGrads[0]});
  expect_values(p, {2}, {0.95, -1.9}, 1e-15);
  expect_values(opt.param_state(0, 0).buffers[0], {2}, {0.5, -1.0});
  // Step 2: buf = 0.9 * buf + 0.9 * g2 = [0.63, -0.54].
  step_with(opt, {p}, {kGrads[1]});
  expect_values(opt.param_state(0, 0).buffers[0], {2}, {0.63, -0.54}, 1e-15);
  expect_values(p, {2}, {0.887, -1.846}, 1e-15);
  // Step 3: buf = 0.9 * [0.63, -0.54] + 0.9 * [-0.1, 0.3] = [0.477, -0.216].
  step_with(opt, {p}, {kGrads[2]});
  expect_values(p, {2}, {0.887 - 0.0477, -1.846 + 0.0216}, 1e-15);
}

TEST(SGD, NesterovWithWeightDecay) {
  Tensor p = param({1.0, -2.0});
  optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
  // Step 1: d = g + 0.01 p = [0.51, -1.02]; buf = d; p -= 0.1 * (d + 0.9 buf) = 0.1 * 1.9 d.
  step_with(opt, {p}, {kGrads[0]});
  expect_values(p, {2}, {0.9031, -1.8062}, 1e-15);
  // Step 2: d = [0.2 + 0.009031, 0.4 - 0.018062] = [0.209031, 0.381938];
  // buf = 0.9 [0.51, -1.02] + d = [0.668031, -0.536062];
  // p -= 0.1 (d + 0.9 buf) = 0.1 [0.8102589, -0.1005178].
  step_with(opt, {p}, {kGrads[1]});
  expect_values(p, {2}, {0.82207411, -1.79614822}, 1e-14);
}

TEST(SGD, GroupsHonourTheirOwnLrMomentumAndWeightDecay) {
  Tensor a = param({1.0}), b = param({2.0});
  optim::SGD opt({{.params = {a}}, {.params = {b}, .lr = 0.01, .weight_decay = 0.5}},
                 {.lr = 0.1, .momentum = 0.5});
  EXPECT_EQ(opt.param_groups()[0].lr, 0.1);
  EXPECT_EQ(opt.param_groups()[0].weight_decay, 0.0);
  EXPECT_EQ(opt.param_groups()[1].lr, 0.01);
  EXPECT_EQ(opt.param_groups()[1].momentum, 0.5);  // from the defaults
  step_with(opt, {a, b}, {{0.5}, {1.0}});
  expect_values(a, {1}, {1 - 0.1 * 0.5}, 1e-15);
  expect_values(b, {1}, {2 - 0.01 * (1.0 + 0.5 * 2.0)}, 1e-15);  // d = g + wd p = 2
  // Changing one group's momentum between steps takes effect at the next step.
  opt.param_groups()[0].momentum = 0.0;
  step_with(opt, {a, b}, {{0.5}, {1.0}});
  expect_values(a, {1}, {0.95 - 0.05}, 1e-15);
  // b: d = 1 + 0.5 * 1.98 = 1.99; buf = 0.5 * 2 + 1.99 = 2.99 (no dampening).
  expect_values(b, {1}, {1.98 - 0.01 * 2.99}, 1e-15);
}

TEST(SGD, Float32ParametersStepInFloat32) {
  Tensor p = mg::tensor({1.0f, -2.0f}).requires_grad_();
  optim::SGD opt({p}, {.lr = 0.5});
  (p * p).sum().backward();  // grad = 2p
  opt.step();
  EXPECT_EQ(p.dtype(), mg::kFloat32);
  expect_values(p, {2}, {0.0, 0.0});
}

TEST(SGD, NesterovNeedsMomentumAndNoDampening) {
  Tensor p = param({1.0});
  EXPECT_MG_ERROR(optim::SGD({p}, {.lr = 0.1, .nesterov = true}),
                  "Nesterov momentum needs momentum > 0 and dampening = 0");
  EXPECT_MG_ERROR(optim::SGD({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                  "Nesterov");
  // A group may not break the rule later either; the step then changes nothing.
  optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  opt.param_groups()[0].momentum = 0.0;
  mg::optim::testing::set_grad(p, {1.0});
  EXPECT_MG_ERROR(opt.step(), "SGD.step: group 0: Nesterov");
  expect_values(p, {1}, {1.0});
}
