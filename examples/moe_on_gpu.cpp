// Trains a sparse MoE regressor on the GPU when there is one (on the CPU otherwise): the same
// model code on either device, moved with Module::to and fed tensors made on the device.
#include <mixgrad.h>

#include <iostream>

#include "models/moe.h"

namespace nn = mg::nn;

struct MoERegressor : nn::Module {
  nn::Linear in{8, 32};
  std::shared_ptr<mg::models::MoE> moe = std::make_shared<mg::models::MoE>(
      mg::models::MoEOptions{.d_model = 32, .hidden = 64, .num_experts = 8, .k = 2});
  nn::Linear out{32, 1};
  MoERegressor() {
    register_module("in", in);
    register_module("moe", moe);
    register_module("out", out);
  }
  // The prediction and the gate's balancing loss.
  std::pair<mg::Tensor, mg::Tensor> operator()(const mg::Tensor& x) {
    mg::models::MoEOutput routed = (*moe)(mg::relu(in(x)));
    return {out(routed.output), routed.aux_loss};
  }
};

int main() {
  const mg::Device device = mg::cuda::is_available() ? mg::Device::cuda() : mg::Device::cpu();
  std::cout << "training on " << mg::describe(device)
            << (mg::cuda::is_built() ? "" : " (this program has no CUDA backend)") << "\n";
  mg::manual_seed(0);
  MoERegressor model;
  model.to(device);
  mg::optim::Adam optimizer(model.parameters(), {.lr = 3e-3});

  // Targets from a fixed smooth function of the inputs, so the task is learnable.
  const mg::Tensor teacher = mg::randn({8, 1}, mg::kFloat32).to(device);
  double first = 0, last = 0;
  for (int step = 0; step < 150; ++step) {
    const mg::Tensor x = mg::randn({256, 8}, mg::kFloat32).to(device);
    const mg::Tensor y = mg::sin(mg::matmul(x, teacher));
    optimizer.zero_grad();
    auto [prediction, aux_loss] = model(x);
    const mg::Tensor loss = mg::mse_loss(prediction, y) + aux_loss;
    loss.backward();
    optimizer.step();
    last = loss.item<double>();
    if (step == 0) first = last;
    if (step % 50 == 0) std::cout << "step " << step << "  loss " << last << "\n";
  }
  std::cout << "final loss " << last << " (first " << first << ")\n";
  return last < first * 0.5 ? 0 : 1;  // the example doubles as a smoke test
}
