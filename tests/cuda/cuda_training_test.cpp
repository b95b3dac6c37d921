// Training on CUDA follows the CPU run: the same initial weights and batches give the same loss
// curve over 100 steps, for an MLP (nn::Linear/ReLU with Adam and with SGD) and for the
// foundation's SimpleMoELayer (top-k routing written with generic ops).
//
// Tolerance: the runs are in float64, where CUDA and CPU differ only in summation order (~1e-16
// relative per op). 100 optimizer steps on these small, well-conditioned problems amplify that
// by far less than 1e6, so kTrainingTol (atol 1e-8, rtol 1e-7) on every step's loss and on the
// final parameters leaves orders of magnitude of margin while still catching any real
// divergence (a wrong gradient shows up as a 1e-3 or larger difference within a few steps).
// One float32 run checks the default dtype too, on the losses at atol 1e-4 / rtol 1e-3: float32
// rounding differences (~1e-7 relative) grow to ~1e-5 over 100 SGD steps here.
#include "common/simple_moe.h"
#include "cuda/cuda_test_util.h"

namespace mixgrad::cuda_testing {
namespace {

constexpr int kSteps = 100;
constexpr Tol kFloat32TrainingTol{1e-4, 1e-3};

struct Batch {
  Tensor x, y;
};

// Classification batches: 4 classes given by a fixed random linear rule on 8 features.
std::vector<Batch> classification_batches(DType dtype) {
  Generator gen(42);
  const Tensor rule = randn({8, 4}, dtype, &gen);
  std::vector<Batch> batches;
  for (int i = 0; i < kSteps; ++i) {
    Tensor x = randn({32, 8}, dtype, &gen);
    batches.push_back({x, argmax(matmul(x, rule), 1)});
  }
  return batches;
}

std::shared_ptr<nn::Module> make_mlp(DType dtype) {
  DefaultDtypeGuard guard(dtype);
  manual_seed(7);  // the same initial weights for every device
  return std::make_shared<nn::Sequential>(
      std::make_shared<nn::Linear>(8, 32), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(32, 32), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(32, 4));
}

struct Run {
  std::vector<double> losses;
  std::vector<Tensor> params;  // final values, on the CPU
};

template <class MakeOptimizer>
Run train_mlp(Device device, DType dtype, MakeOptimizer make_optimizer) {
  std::shared_ptr<nn::Module> model = make_mlp(dtype);
  model->to(device);
  auto optimizer = make_optimizer(model->parameters());
  Run run;
  for (const Batch& b : classification_batches(dtype)) {
    optimizer.zero_grad();
    const Tensor loss = cross_entropy((*model)(b.x.to(device)), b.y.to(device));
    loss.backward();
    optimizer.step();
    run.losses.push_back(loss.item<double>());
  }
  for (const Tensor& p : model->parameters()) {
    EXPECT_EQ(p.device(), device);
    run.params.push_back(p.detach().to(Device::cpu()));
  }
  return run;
}

void expect_same_run(const Run& gpu_run, const Run& cpu_run, Tol tol, bool compare_params = true) {
  ASSERT_EQ(gpu_run.losses.size(), cpu_run.losses.size());
  expect_close(tensor(gpu_run.losses), tensor(cpu_run.losses), tol, "losses per step");
  ASSERT_EQ(gpu_run.params.size(), cpu_run.params.size());
  for (std::size_t i = 0; compare_params && i < cpu_run.params.size(); ++i)
    expect_close(gpu_run.params[i], cpu_run.params[i], tol, "parameter " + std::to_string(i));
  // The runs must have trained, or matching curves would prove little.
  EXPECT_LT(cpu_run.losses.back(), 0.7 * cpu_run.losses.front());
}

TEST(CudaTraining, MlpWithAdamMatchesCpu) {
  MG_REQUIRE_CUDA();
  const auto adam = [](std::vector<Tensor> p) { return optim::Adam(std::move(p), {.lr = 1e-2}); };
  expect_same_run(train_mlp(gpu(), kFloat64, adam), train_mlp(Device::cpu(), kFloat64, adam),
                  kTrainingTol);
}

TEST(CudaTraining, MlpWithSgdMatchesCpu) {
  MG_REQUIRE_CUDA();
  const auto sgd = [](std::vector<Tensor> p) {
    return optim::SGD(std::move(p), {.lr = 0.05, .momentum = 0.9});
  };
  expect_same_run(train_mlp(gpu(), kFloat64, sgd), train_mlp(Device::cpu(), kFloat64, sgd),
                  kTrainingTol);
  // float32: losses only. A ReLU input within float32 rounding of 0 may switch sides between
  // devices, which moves single weights by ~lr / batch but the loss by far less.
  expect_same_run(train_mlp(gpu(), kFloat32, sgd), train_mlp(Device::cpu(), kFloat32, sgd),
                  kFloat32TrainingTol, /*compare_params=*/false);
}

Run train_moe(Device device) {
  const mixgrad::testing::SimpleMoELayer moe(/*d=*/16, /*hidden=*/32, /*experts=*/8, /*k=*/2,
                                             kFloat64, /*seed=*/3, device);
  optim::Adam optimizer(moe.parameters(), {.lr = 3e-3});
  // Regress a fixed smooth target of the input.
  Generator gen(9);
  const Tensor mix = randn({16, 16}, kFloat64, &gen) * 0.25;
  Run run;
  for (int step = 0; step < kSteps; ++step) {
    const Tensor x = randn({4, 16, 16}, kFloat64, &gen);
    const Tensor y = tanh(matmul(x, mix));
    optimizer.zero_grad();
    const Tensor loss = mse_loss(moe.forward(x.to(device)), y.to(device));
    loss.backward();
    optimizer.step();
    run.losses.push_back(loss.item<double>());
  }
  for (const Tensor& p : moe.parameters()) run.params.push_back(p.detach().to(Device::cpu()));
  return run;
}

TEST(CudaTraining, SimpleMoELayerMatchesCpu) {
  MG_REQUIRE_CUDA();
  expect_same_run(train_moe(gpu()), train_moe(Device::cpu()), kTrainingTol);
}

}  // namespace
}  // namespace mixgrad::cuda_testing
