// Fits y = sin(3x) with a small MLP: a Module, AdamW with a cosine schedule, a shuffling
// DataLoader, the fit() helper (progress and averaging), and a checkpoint round trip.
#include <mixgrad.h>

#include <filesystem>
#include <iostream>

namespace nn = mg::nn;

struct Regressor : nn::Module {
  nn::Linear hidden{1, 64};
  nn::Linear out{64, 1};
  Regressor() {
    register_module("hidden", hidden);
    register_module("out", out);
  }
  mg::Tensor forward(const mg::Tensor& x) override { return out(mg::tanh(hidden(x))); }
};

int main() {
  mg::manual_seed(0);
  auto x = mg::rand({1024, 1}) * 4 - 2;
  auto y = mg::sin(x * 3);
  auto data = std::make_shared<mg::data::TensorDataset>(x, y);
  mg::data::DataLoader loader(data, {.batch_size = 64, .shuffle = true, .seed = 1});

  Regressor model;
  std::cout << model << "\n";
  const int64_t epochs = 100;
  mg::optim::AdamW optimizer(model.parameters(), {.lr = 2e-2});
  mg::optim::CosineAnnealingLR schedule(optimizer, epochs * loader.size());
  nn::MSELoss mse;

  auto result = mg::train::fit({.epochs = epochs}, loader, [&](const mg::data::Example& batch) {
    optimizer.zero_grad();
    auto loss = mse(model(batch.input), batch.target);
    loss.backward();
    optimizer.step();
    schedule.step();
    return loss.item<double>();
  });

  auto path = std::filesystem::temp_directory_path() / "mixgrad_regressor.safetensors";
  mg::io::save_checkpoint(path, model, &optimizer);
  Regressor restored;
  mg::io::load_checkpoint(path, restored);
  mg::NoGradGuard no_grad;
  double restored_loss = mse(restored(x), y).item<double>();
  std::cout << "last epoch loss " << result.history.back().train_loss << ", restored model loss "
            << restored_loss << "\n";
  return restored_loss < 0.01 ? 0 : 1;  // the example doubles as a smoke test
}
