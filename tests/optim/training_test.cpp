// Each optimizer trains a small MLP to fit y = sin(x) on 64 points, full batch. The thresholds
// are about 5x the MSE measured when they were set (noted per test); before training the MSE is
// above 0.1.
#include <cmath>
#include <numbers>

#include "optim/optim_test_util.h"

namespace mg = mixgrad;
namespace optim = mixgrad::optim;
using mg::Tensor;

namespace {

// 1 -> 32 (tanh) -> 32 (relu) -> 1 network on raw parameter tensors.
struct Mlp {
  std::vector<Tensor> params;

  explicit Mlp(uint64_t seed) {
    mg::Generator gen(seed);
    auto init = [&](const mg::Shape& shape, double scale) {
      return (mg::randn(shape, {}, &gen) * scale).detach().requires_grad_();
    };
    const double fan_in_32 = 1 / std::sqrt(32.0);
    params = {init({32, 1}, 1.0), init({32}, 0.5),          init({32, 32}, fan_in_32),
              init({32}, 0.1),    init({1, 32}, fan_in_32), mg::zeros({1}).requires_grad_()};
  }
  Tensor forward(const Tensor& x) const {
    Tensor h = mg::tanh(mg::linear(x, params[0], params[1]));
    h = mg::relu(mg::linear(h, params[2], params[3]));
    return mg::linear(h, params[4], params[5]);
  }
};

const Tensor& inputs() {
  static const Tensor x = mg::linspace(-std::numbers::pi, std::numbers::pi, 64).reshape({64, 1});
  return x;
}

double mse(const Mlp& mlp) {
  mg::NoGradGuard no_grad;
  return mg::mse_loss(mlp.forward(inputs()), mg::sin(inputs())).item<double>();
}

// Trains `steps` full-batch steps and returns the final MSE.
double train(const Mlp& mlp, optim::Optimizer& opt, int steps) {
  EXPECT_GT(mse(mlp), 0.1);
  const Tensor target = mg::sin(inputs());
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    mg::mse_loss(mlp.forward(inputs()), target).backward();
    opt.step();
  }
  return mse(mlp);
}

}  // namespace

TEST(Training, SgdWithMomentumFitsSine) {
  Mlp mlp(1);
  optim::SGD opt(mlp.params, {.lr = 0.05, .momentum = 0.9});
  EXPECT_LT(train(mlp, opt, 400), 1e-3);  // measured 2.0e-4
}

TEST(Training, AdamFitsSine) {
  Mlp mlp(2);
  optim::Adam opt(mlp.params, {.lr = 0.01});
  EXPECT_LT(train(mlp, opt, 300), 5e-4);  // measured 7.4e-5
}

TEST(Training, AdamWFitsSine) {
  Mlp mlp(3);
  optim::AdamW opt(mlp.params, {.lr = 0.01, .weight_decay = 0.01});
  EXPECT_LT(train(mlp, opt, 300), 5e-4);  // measured 5.0e-5
}

TEST(Training, AdamWRFitsSine) {
  Mlp mlp(4);
  // Periods of 50, 100 and 200 steps: the run ends as the third one closes (eta near 0), at
  // epoch 7 where the next step would start the fourth.
  optim::AdamWR opt(
      mlp.params,
      {.adam = {.lr = 0.02, .weight_decay = 1e-4}, .t0 = 1, .t_mult = 2, .steps_per_epoch = 50});
  EXPECT_LT(train(mlp, opt, 350), 5e-4);  // measured 1.0e-4
  EXPECT_EQ(opt.epoch(), 7.0);
  EXPECT_EQ(opt.position().restarts, 3);
}
