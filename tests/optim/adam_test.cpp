#include "optim/optim_test_util.h"

namespace mg = mixgrad;
namespace optim = mixgrad::optim;
using mg::Tensor;
using mg::optim::testing::param;
using mg::optim::testing::step_with;
using mg::testing::expect_values;

// Reference values below come from the PyTorch formulas evaluated by hand (in double precision)
// for p0 = [1, -2] and these gradients. Step 1 of Adam moves every element by lr against the sign
// of its gradient (m_hat = g, v_hat = g^2), up to eps.
const std::vector<std::vector<double>> kGrads = {{0.5, -1.0}, {0.2, 0.4}, {-0.1, 0.3}};

TEST(Adam, FirstStepsMatchTheBiasCorrectedFormula) {
  Tensor p = param({1.0, -2.0});
  optim::Adam opt({p}, {.lr = 0.1});
  EXPECT_EQ(opt.param_groups()[0].weight_decay, 0.0);
  EXPECT_EQ(opt.param_groups()[0].beta2, 0.999);
  step_with(opt, {p}, {kGrads[0]});
  expect_values(p, {2}, {0.900000002, -1.900000001}, 1e-15);
  // m = [0.05, -0.1], v = [0.00025, 0.001] after step 1.
  expect_values(opt.param_state(0, 0).buffers[0], {2}, {0.05, -0.1}, 1e-15);
  expect_values(opt.param_state(0, 0).buffers[1], {2}, {0.00025, 0.001}, 1e-15);
  // Step 2, element 0: m = 0.065, v = 0.00028975, bias corrections 0.19 and 0.001999:
  // 0.9 - 0.1 * (0.065 / 0.19) / sqrt(0.00028975 / 0.001999) = 0.81014248...
  step_with(opt, {p}, {kGrads[1]});
  expect_values(p, {2}, {0.8101424839029282, -1.865439416662626}, 1e-13);
  step_with(opt, {p}, {kGrads[2]});
  expect_values(p, {2}, {0.7535255578069425, -1.8568614218383597}, 1e-13);
}

TEST(Adam, L2WeightDecayGoesIntoTheGradientAndAmsgradKeepsTheMaximum) {
  // beta2 = 0.5 makes v shrink after the large first gradient, so the running maximum matters.
  const std::vector<std::vector<double>> grads = {{1.0, -1.0}, {0.1, 0.2}, {0.05, -0.1}};
  Tensor p = param({1.0, -2.0}), q = param({1.0, -2.0});
  optim::Adam with_max({p}, {.lr = 0.01, .beta2 = 0.5, .weight_decay = 0.1, .amsgrad = true});
  optim::Adam without({q}, {.lr = 0.01, .beta2 = 0.5, .weight_decay = 0.1});
  EXPECT_TRUE(with_max.amsgrad());
  ASSERT_EQ(with_max.buffers().size(), 3u);
  EXPECT_EQ(with_max.buffers()[2].name, "max_exp_avg_sq");
  // Step 1: g = [1 + 0.1, -1 - 0.2] = [1.1, -1.2]; v = 0.5 g^2.
  step_with(with_max, {p}, {grads[0]});
  step_with(without, {q}, {grads[0]});
  expect_values(p, {2}, {0.990000000090909, -1.9900000000833333}, 1e-15);
  expect_values(with_max.param_state(0, 0).buffers[2], {2}, {0.605, 0.72}, 1e-15);
  step_with(with_max, {p}, {grads[1]});
  step_with(without, {q}, {grads[1]});
  expect_values(p, {2}, {0.9830324324551095, -1.984203948755464}, 1e-14);
  expect_values(q, {2}, {0.9804538471257527, -1.9818031514141563}, 1e-14);
  expect_values(with_max.param_state(0, 0).buffers[2], {2}, {0.605, 0.72}, 1e-15);  // kept
  step_with(with_max, {p}, {grads[2]});
  step_with(without, {q}, {grads[2]});
  expect_values(p, {2}, {0.9776255355422003, -1.979039687974164}, 1e-14);
  expect_values(q, {2}, {0.9703186523391267, -1.9725556019689707}, 1e-14);
}

TEST(AdamW, DecaysTheWeightsApartFromTheGradient) {
  Tensor p = param({1.0, -2.0});
  optim::AdamW opt({p}, {.lr = 0.1, .weight_decay = 0.1});
  // Step 1: p = 0.99 p, then the Adam step of lr against sign(g).
  step_with(opt, {p}, {kGrads[0]});
  expect_values(p, {2}, {0.890000002, -1.880000001}, 1e-15);
  // The moments see the raw gradient, unlike Adam's L2 decay.
  expect_values(opt.param_state(0, 0).buffers[0], {2}, {0.05, -0.1}, 1e-15);
  step_with(opt, {p}, {kGrads[1]});
  expect_values(p, {2}, {0.7912424838829282, -1.826639416652626}, 1e-13);
  step_with(opt, {p}, {kGrads[2]});
  expect_values(p, {2}, {0.7267131329481132, -1.7997950276618335}, 1e-13);
}

TEST(AdamW, DefaultWeightDecayIsPyTorchs) {
  Tensor p = param({1.0});
  EXPECT_EQ(optim::AdamW({p}).param_groups()[0].weight_decay, 1e-2);
  EXPECT_EQ(optim::Adam({p}).param_groups()[0].weight_decay, 0.0);
  EXPECT_EQ(optim::AdamW({p}).name(), "AdamW");
}

TEST(AdamW, GroupsHonourTheirOwnLrBetasAndWeightDecay) {
  Tensor a = param({1.0}), b = param({2.0});
  optim::AdamW opt({{.params = {a}, .weight_decay = 0.0},
                    {.params = {b}, .lr = 0.01, .weight_decay = 0.5, .beta1 = 0.5}},
                   {.lr = 0.1});
  EXPECT_EQ(opt.param_groups()[1].beta1, 0.5);
  EXPECT_EQ(opt.param_groups()[0].beta1, 0.9);
  step_with(opt, {a, b}, {{0.5}, {1.0}});
  expect_values(a, {1}, {0.9}, 1e-7);
  expect_values(b, {1}, {2 * (1 - 0.01 * 0.5) - 0.01}, 1e-9);
  // b's first moment used beta1 = 0.5: m = 0.5 * g.
  expect_values(opt.param_state(1, 0).buffers[0], {1}, {0.5});
}

TEST(Adam, ParametersWithoutGradientKeepTheirStateEmpty) {
  Tensor a = param({1.0}), b = param({2.0});
  optim::Adam opt({a, b}, {.lr = 0.1});
  step_with(opt, {a}, {{1.0}});
  expect_values(b, {1}, {2.0});
  EXPECT_EQ(opt.param_state(0, 1).step, 0);
  EXPECT_FALSE(opt.param_state(0, 1).buffers[0].defined());
  // b's first update later is its own step 1 (bias correction per parameter, as PyTorch).
  step_with(opt, {a, b}, {{1.0}, {-3.0}});
  EXPECT_EQ(opt.param_state(0, 0).step, 2);
  EXPECT_EQ(opt.param_state(0, 1).step, 1);
  expect_values(b, {1}, {2.1}, 1e-9);
}

TEST(Adam, RejectsHyperparametersOutOfRange) {
  Tensor p = param({1.0});
  EXPECT_MG_ERROR(optim::Adam({p}, {.beta1 = 1.0}), "Adam: group 0: beta1 = 1 must be in [0, 1)");
  EXPECT_MG_ERROR(optim::Adam({p}, {.beta2 = -0.1}), "beta2 = -0.1 must be in [0, 1)");
  EXPECT_MG_ERROR(optim::Adam({p}, {.eps = -1e-8}), "eps = -1e-08 must be a finite number >= 0");
  EXPECT_MG_ERROR(optim::AdamW({p}, {.weight_decay = -0.1}), "AdamW: group 0: weight_decay");
  EXPECT_MG_ERROR(optim::Adam({{.params = {p}, .momentum = 0.9}}),
                  "group 0: momentum is not a hyperparameter of Adam");
}
