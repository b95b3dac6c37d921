#include <cmath>
#include <numbers>

#include "optim/optim_test_util.h"

namespace mg = mixgrad;
namespace optim = mixgrad::optim;
using mg::Tensor;
using mg::optim::testing::param;
using mg::optim::testing::set_grad;
using mg::optim::testing::step_with;
using mg::testing::expect_values;

namespace {

constexpr double kPi = std::numbers::pi;

// 0.5 (1 + cos(pi * fraction)): the multiplier a fraction of the way through a period.
double eta(double fraction) {
  return 0.5 * (1 + std::cos(kPi * fraction));
}

}  // namespace

TEST(AdamWR, MultiplierScalesBothTheStepAndTheDecay) {
  Tensor p = param({1.0, -2.0});
  optim::AdamWR opt({p}, {.adam = {.lr = 0.1, .weight_decay = 0.1}, .t0 = 1});
  opt.set_epoch(0.5);  // eta = 0.5
  EXPECT_NEAR(opt.multiplier(), 0.5, 1e-15);
  // p = p - 0.5 * (0.1 * sign(g) + 0.1 * p) for the first step: [1 - 0.05 - 0.05, -2 + 0.05 + 0.1].
  step_with(opt, {p}, {{0.5, -1.0}});
  expect_values(p, {2}, {0.900000001, -1.8500000005}, 1e-15);
  opt.set_epoch(0.75);  // eta = 0.5 (1 + cos(3 pi / 4)) = 0.146446...
  EXPECT_NEAR(opt.multiplier(), 0.14644660940672627, 1e-15);
  // Hand-evaluated from the formula: m = [0.065, -0.05], v = [0.00028975, 0.001159], bias
  // corrections 0.19 and 0.001999.
  step_with(opt, {p}, {{0.2, 0.4}});
  expect_values(p, {2}, {0.8736604772837303, -1.8178460973571096}, 1e-13);
}

TEST(AdamWR, RestartScheduleFollowsTheClosedFormAcrossRestarts) {
  // t0 = 2, t_mult = 2: periods [0, 2), [2, 6), [6, 14), [14, 30); 4 steps per epoch.
  Tensor p = param({1.0});
  optim::AdamWR opt({p}, {.adam = {.lr = 0.1}, .t0 = 2, .t_mult = 2, .steps_per_epoch = 4});
  struct Point {
    int step;
    double multiplier;
    int64_t restarts;
  };
  const std::vector<Point> points = {{0, 1.0, 0},
                                     {4, eta(0.5), 0},
                                     {7, eta(7.0 / 8), 0},
                                     {8, 1.0, 1},
                                     {12, eta(0.25), 1},
                                     {16, eta(0.5), 1},
                                     {23, eta(15.0 / 16), 1},
                                     {24, 1.0, 2},
                                     {40, eta(0.5), 2},
                                     {55, eta(31.0 / 32), 2},
                                     {56, 1.0, 3},
                                     {88, eta(0.5), 3}};
  int done = 0;
  for (const Point& pt : points) {
    for (; done < pt.step; ++done) step_with(opt, {p}, {{0.0}});
    EXPECT_EQ(opt.epoch(), pt.step / 4.0);
    EXPECT_NEAR(opt.multiplier(), pt.multiplier, 1e-15) << "step " << pt.step;
    EXPECT_EQ(opt.position().restarts, pt.restarts) << "step " << pt.step;
  }
  EXPECT_MG_ERROR(opt.set_epoch(1.0), "AdamWR.set_epoch: the schedule follows the step count");
}

TEST(AdamWR, WeightDecayFollowsTheMultiplierAndIsNotScaledByLr) {
  // With zero gradients the Adam term vanishes (m = 0), leaving p = (1 - eta * wd) p.
  Tensor p = param({1.0});
  optim::AdamWR opt({p},
                    {.adam = {.lr = 1e-3, .weight_decay = 0.1}, .t0 = 1, .steps_per_epoch = 2});
  step_with(opt, {p}, {{0.0}});  // epoch 0: eta = 1
  expect_values(p, {1}, {0.9}, 1e-15);
  step_with(opt, {p}, {{0.0}});  // epoch 0.5: eta = 0.5
  expect_values(p, {1}, {0.9 * 0.95}, 1e-15);
  step_with(opt, {p}, {{0.0}});  // epoch 1: restart, eta = 1
  expect_values(p, {1}, {0.9 * 0.95 * 0.9}, 1e-15);
}

TEST(AdamWR, NormalisedWeightDecayAdaptsToThePeriodLength) {
  Tensor p = param({1.0});
  optim::AdamWR opt({p}, {.adam = {.weight_decay = 0.05},
                          .t0 = 2,
                          .t_mult = 2,
                          .normalized_weight_decay = {{.batch_size = 32, .dataset_size = 512}}});
  // wd = 0.05 * sqrt(32 / (512 * 2)) in the first period, 0.05 * sqrt(32 / (512 * 4)) after.
  EXPECT_NEAR(opt.effective_weight_decay(), 0.05 / std::sqrt(32.0), 1e-17);
  opt.set_epoch(2.0);
  EXPECT_NEAR(opt.effective_weight_decay(), 0.05 * 0.125, 1e-17);
  step_with(opt, {p}, {{0.0}});  // eta = 1 right after the restart
  expect_values(p, {1}, {1 - 0.00625}, 1e-15);
  EXPECT_MG_ERROR(opt.effective_weight_decay(1), "group 1 out of range");
}

TEST(AdamWR, DefaultsConfigAndErrors) {
  Tensor p = param({1.0});
  optim::AdamWR opt({p}, {.t0 = 2, .t_mult = 2});
  EXPECT_EQ(opt.name(), "AdamWR");
  EXPECT_EQ(opt.param_groups()[0].weight_decay, 1e-5);
  EXPECT_EQ(opt.epoch(), 0.0);
  const auto s = opt.state_dict();
  EXPECT_EQ(s.scalars.at("config.t0"), "2");
  EXPECT_EQ(s.scalars.at("config.t_mult"), "2");
  EXPECT_EQ(s.scalars.at("schedule.epoch"), "0");
  optim::AdamWR other({param({1.0})}, {.t0 = 2, .t_mult = 4});
  EXPECT_MG_ERROR(other.load_state_dict(s), "'config.t_mult' is '2' in the state but '4'");
  EXPECT_MG_ERROR(opt.set_epoch(-1.0), "AdamWR.set_epoch: epoch = -1 must be finite and >= 0");
  EXPECT_MG_ERROR(optim::AdamWR({p}, {.t0 = 0}), "AdamWR: t0 = 0 and t_mult = 1 must both be");
  EXPECT_MG_ERROR(optim::AdamWR({p}, {.steps_per_epoch = -1}), "steps_per_epoch = -1");
  EXPECT_MG_ERROR(optim::AdamWR({p}, {.eta_min = 2.0}), "eta_min = 2 must be in [0, 1]");
  EXPECT_MG_ERROR(optim::AdamWR({p}, {.normalized_weight_decay = {{.batch_size = 0}}}),
                  "needs batch_size >= 1 and dataset_size >= 1, got 0 and 0");
}
