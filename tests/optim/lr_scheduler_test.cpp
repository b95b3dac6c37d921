#include <cmath>
#include <memory>
#include <numbers>

#include "optim/optim_test_util.h"

namespace mg = mixgrad;
namespace optim = mixgrad::optim;
using mg::Tensor;
using mg::optim::testing::param;

namespace {

constexpr double kPi = std::numbers::pi;

// The lr of group `group` at epochs 0, 1, 2, ... (epoch 0 is set by the constructor).
std::vector<double> lr_sequence(optim::LRScheduler& s, int epochs, size_t group = 0) {
  std::vector<double> lrs{s.optimizer().lr(group)};
  for (int e = 1; e < epochs; ++e) {
    s.step();
    lrs.push_back(s.optimizer().lr(group));
  }
  return lrs;
}

void expect_sequence(const std::vector<double>& got, const std::vector<double>& expected) {
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-15) << "epoch " << i;
}

}  // namespace

TEST(StepLR, DecaysEveryStepSizeEpochsPerGroup) {
  optim::SGD opt({{.params = {param({1.0})}}, {.params = {param({1.0})}, .lr = 0.2}}, {.lr = 0.1});
  optim::StepLR s(opt, /*step_size=*/2, /*gamma=*/0.5);
  EXPECT_EQ(s.base_lrs(), (std::vector<double>{0.1, 0.2}));
  expect_sequence(lr_sequence(s, 6), {0.1, 0.1, 0.05, 0.05, 0.025, 0.025});
  EXPECT_EQ(opt.lr(1), 0.2 * 0.25);
  EXPECT_EQ(s.last_lr(), (std::vector<double>{0.025, 0.05}));
  EXPECT_EQ(s.epoch(), 5.0);
}

TEST(CosineAnnealingLR, FollowsTheHalfCosineToEtaMin) {
  optim::SGD opt({param({1.0})}, {.lr = 0.1});
  optim::CosineAnnealingLR s(opt, /*t_max=*/4, /*eta_min=*/0.01);
  const double h = 0.045;  // (0.1 - 0.01) / 2
  expect_sequence(lr_sequence(s, 5), {0.1, 0.01 + h * (1 + std::sqrt(0.5)), 0.055,
                                      0.01 + h * (1 - std::sqrt(0.5)), 0.01});
}

TEST(LinearWarmup, RampsFromStartFactorThenHoldsTheBaseLr) {
  optim::SGD opt({param({1.0})}, {.lr = 0.1});
  optim::LinearWarmup s(opt, /*warmup_steps=*/3, /*start_factor=*/0.1);
  expect_sequence(lr_sequence(s, 5), {0.01, 0.04, 0.07, 0.1, 0.1});
}

TEST(LinearWarmup, ThenCosineIsOneScheduler) {
  optim::AdamW opt({param({1.0})}, {.lr = 0.1});
  optim::LinearWarmup s(opt, 2, 0.5, std::make_unique<optim::CosineAnnealingLR>(opt, 4));
  EXPECT_EQ(s.base_lrs(), (std::vector<double>{0.1}));
  // Warm-up 0.05, 0.075; then the cosine from its own epoch 0: 0.1, 0.05 (1 + cos(pi/4)), 0.05,
  // 0.05 (1 - cos(pi/4)), 0.
  expect_sequence(lr_sequence(s, 7), {0.05, 0.075, 0.1, 0.05 * (1 + std::cos(kPi / 4)), 0.05,
                                      0.05 * (1 - std::cos(kPi / 4)), 0.0});
  // Fractional positions work through the composition too.
  s.step(2.5);
  EXPECT_NEAR(opt.lr(), 0.05 * (1 + std::cos(kPi / 8)), 1e-15);
}

TEST(LinearWarmup, ComposedScheduleMustDriveTheSameOptimizer) {
  optim::SGD a({param({1.0})}, {.lr = 0.1}), b({param({1.0})}, {.lr = 0.1});
  EXPECT_MG_ERROR(optim::LinearWarmup(a, 2, 0.5, std::make_unique<optim::StepLR>(b, 1)),
                  "LinearWarmup: the schedule after the warm-up drives a different optimizer");
}

TEST(CosineAnnealingWarmRestarts, IntegerStepsRestartAtTheEndOfEachPeriod) {
  optim::SGD opt({param({1.0})}, {.lr = 1.0});
  optim::CosineAnnealingWarmRestarts s(opt, /*t0=*/2, /*t_mult=*/2);
  // Periods [0, 2), [2, 6), [6, 14).
  expect_sequence(lr_sequence(s, 8),
                  {1.0, 0.5, 1.0, 0.5 * (1 + std::cos(kPi / 4)), 0.5,
                   0.5 * (1 + std::cos(3 * kPi / 4)), 1.0, 0.5 * (1 + std::cos(kPi / 8))});
}

TEST(CosineAnnealingWarmRestarts, FractionalEpochsAndEtaMin) {
  optim::SGD opt({param({1.0})}, {.lr = 1.0});
  optim::CosineAnnealingWarmRestarts s(opt, 2, 2, /*eta_min=*/0.1);
  s.step(2.5);  // 0.5 into the 4-epoch period
  EXPECT_NEAR(opt.lr(), 0.1 + 0.45 * (1 + std::cos(kPi / 8)), 1e-15);
  s.step();  // one epoch on: 3.5
  EXPECT_EQ(s.epoch(), 3.5);
  EXPECT_NEAR(opt.lr(), 0.1 + 0.45 * (1 + std::cos(3 * kPi / 8)), 1e-15);
  s.step(1.0);  // going back is allowed (a jump)
  EXPECT_NEAR(opt.lr(), 0.55, 1e-15);
  EXPECT_MG_ERROR(s.step(-1.0), "CosineAnnealingWarmRestarts.step: epoch = -1");
}

TEST(WarmRestartPosition, ExactAtEveryBoundary) {
  struct Case {
    double epoch, t_cur, t_i;
    int64_t restarts;
  };
  for (const Case& c :
       {Case{0, 0, 2, 0}, Case{1.5, 1.5, 2, 0}, Case{2, 0, 4, 1}, Case{5.75, 3.75, 4, 1},
        Case{6, 0, 8, 2}, Case{14, 0, 16, 3}, Case{30, 0, 32, 4}, Case{62, 0, 64, 5}}) {
    const optim::RestartPosition at = optim::warm_restart_position(c.epoch, 2, 2);
    EXPECT_EQ(at.t_cur, c.t_cur) << "epoch " << c.epoch;
    EXPECT_EQ(at.t_i, c.t_i) << "epoch " << c.epoch;
    EXPECT_EQ(at.restarts, c.restarts) << "epoch " << c.epoch;
  }
  // t_mult = 1: equal periods.
  const optim::RestartPosition at = optim::warm_restart_position(7.5, 3, 1);
  EXPECT_EQ(at.t_cur, 1.5);
  EXPECT_EQ(at.t_i, 3.0);
  EXPECT_EQ(at.restarts, 2);
  // t_mult = 3, t0 = 1: restarts at 1, 4, 13, 40.
  EXPECT_EQ(optim::warm_restart_position(40, 1, 3).restarts, 4);
  EXPECT_EQ(optim::warm_restart_position(39.5, 1, 3).t_cur, 26.5);
  EXPECT_MG_ERROR(optim::warm_restart_position(1, 0, 2), "t0 = 0 and t_mult = 2 must both be >= 1");
  EXPECT_MG_ERROR(optim::warm_restart_position(std::nan(""), 1, 2), "epoch = nan");
}

TEST(LRScheduler, StateRoundTripRestoresPositionAndBaseLrs) {
  optim::SGD opt({param({1.0})}, {.lr = 0.1});
  optim::StepLR s(opt, 1, 0.5);
  s.step();
  s.step();
  const mg::optim::OptimizerState saved = s.state_dict();
  EXPECT_EQ(saved.scalars.at("scheduler"), "StepLR");
  EXPECT_EQ(saved.scalars.at("epoch"), "2");
  EXPECT_EQ(saved.scalars.at("base_lr.0"), "0.1");
  // A resumed run builds its scheduler over an optimizer whose lr is already the decayed one.
  optim::SGD resumed({param({1.0})}, {.lr = 0.025});
  optim::StepLR t(resumed, 1, 0.5);
  t.load_state_dict(saved);
  EXPECT_EQ(t.base_lrs(), (std::vector<double>{0.1}));
  EXPECT_EQ(resumed.lr(), 0.025);
  t.step();
  EXPECT_EQ(resumed.lr(), 0.0125);

  mg::optim::OptimizerState bad = saved;
  bad.scalars["epoch"] = "-2";
  bad.scalars.erase("base_lr.0");
  EXPECT_MG_ERROR(t.load_state_dict(bad), "StepLR.load_state_dict: 2 problems: 'epoch' = '-2'");
  EXPECT_EQ(t.epoch(), 3.0);
  bad = saved;
  bad.scalars["scheduler"] = "CosineAnnealingLR";
  EXPECT_MG_ERROR(t.load_state_dict(bad), "the state is from CosineAnnealingLR, not StepLR");
}

TEST(LRScheduler, RejectsBadArguments) {
  optim::SGD opt({param({1.0})}, {.lr = 0.1});
  EXPECT_MG_ERROR(optim::StepLR(opt, 0), "StepLR: step_size = 0 must be >= 1");
  EXPECT_MG_ERROR(optim::StepLR(opt, 1, -0.5), "gamma = -0.5 must be finite and >= 0");
  EXPECT_MG_ERROR(optim::CosineAnnealingLR(opt, 0), "t_max = 0 must be >= 1");
  EXPECT_MG_ERROR(optim::CosineAnnealingLR(opt, 5, -1.0), "eta_min = -1");
  EXPECT_MG_ERROR(optim::CosineAnnealingWarmRestarts(opt, 2, 0), "t_mult = 0 must both be >= 1");
  EXPECT_MG_ERROR(optim::LinearWarmup(opt, 0, 0.5), "warmup_steps = 0 must be >= 1");
  EXPECT_MG_ERROR(optim::LinearWarmup(opt, 5, 1.5), "start_factor = 1.5 must be in [0, 1]");
  EXPECT_EQ(opt.lr(), 0.1);  // failed constructions wrote nothing
  optim::StepLR s(opt, 1);
  opt.add_param_group({.params = {param({2.0})}});
  EXPECT_MG_ERROR(s.step(),
                  "StepLR: the optimizer has 2 parameter groups but the scheduler was "
                  "made for 1");
}
