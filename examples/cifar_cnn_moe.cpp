// Trains the CIFAR-10 CNN with an 8-expert top-1 MoE layer (models/cifar_cnn_moe.h) with Adam on
// cross-entropy + the MoE's Switch loss, and prints the loss and how many images each expert got.
//   example_cifar_cnn_moe [--data PATH] [--steps N]
// PATH is a CIFAR-10 binary batch file (data_batch_1.bin, ...) or a directory holding
// data_batch_*.bin files; N (default 200) minibatches of 64 images are taken from it in order,
// wrapping around. Without --data there is no dataset to read: the example writes one generated
// batch of 64 images in the CIFAR-10 binary format (each class has its own bright band of rows
// over uniform noise) to a temporary directory, reads it back with the same reader, trains on it
// for N (default 150) steps, and exits 1 unless the loss stays finite and its mean over the
// last 10 steps is below 60% of the first step's loss: the test suite runs it that way. (The
// top-1 routing moves images between experts while the Switch loss balances them, so single
// steps are noisy and the loss only falls steadily after some 80 steps.)
#include "models/cifar_cnn_moe.h"

#include <mixgrad.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/cifar10.h"
#include "optim/adam.h"

namespace fs = std::filesystem;

namespace {

constexpr int64_t kBatch = 64;
constexpr int kRecordPixels = 3 * 32 * 32;

// The data_batch_*.bin files of a directory in name order, or the path itself if it is a file.
std::vector<std::string> batch_files(const fs::path& path) {
  if (!fs::is_directory(path)) return {path.string()};
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(path)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("data_batch_") && name.ends_with(".bin")) {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw std::runtime_error("no data_batch_*.bin file in " + path.string());
  return files;
}

// Writes `images` records in the CIFAR-10 binary format: label i % 10, pixels uniform noise in
// [0, 160) with rows 3 * label .. 3 * label + 2 of the label's colour plane (label % 3) raised by
// 95, so that the classes can be told apart.
void write_generated_batch(const fs::path& file, int images) {
  std::mt19937 rng(0);
  std::uniform_int_distribution<int> noise(0, 159);
  std::vector<char> bytes;
  bytes.reserve(static_cast<std::size_t>(images) * (kRecordPixels + 1));
  for (int i = 0; i < images; ++i) {
    const int label = i % 10;
    bytes.push_back(static_cast<char>(label));
    for (int p = 0; p < kRecordPixels; ++p) {
      const int plane = p / 1024, row = p % 1024 / 32;
      const bool band = plane == label % 3 && row / 3 == label;
      bytes.push_back(static_cast<char>(noise(rng) + (band ? 95 : 0)));
    }
  }
  std::ofstream out(file, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

// A fresh directory under the system's temporary directory, removed with this object.
class GeneratedData {
 public:
  GeneratedData() {
    dir_ = fs::temp_directory_path() /
           ("mixgrad_cifar_cnn_moe_" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    write_generated_batch(dir_ / "data_batch_1.bin", kBatch);
  }
  ~GeneratedData() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  GeneratedData(const GeneratedData&) = delete;
  GeneratedData& operator=(const GeneratedData&) = delete;
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
};

constexpr const char* kUsage = "usage: example_cifar_cnn_moe [--data PATH] [--steps N]";

struct Arguments {
  std::string data;   // empty: generate a batch
  int64_t steps = 0;  // 0: the default for the data source
};

Arguments parse_arguments(int argc, char** argv) {
  Arguments args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if ((flag != "--data" && flag != "--steps") || i + 1 >= argc) {
      throw std::runtime_error(kUsage);
    }
    const std::string value = argv[++i];
    if (flag == "--data") {
      args.data = value;
    } else {
      args.steps = std::atoll(value.c_str());
      if (args.steps < 1)
        throw std::runtime_error("--steps needs a positive integer, got " + value);
    }
  }
  return args;
}

// Trains for `steps` minibatches; returns the loss (cross-entropy + aux) of each step.
std::vector<float> train(const mg::data::CifarBatch& data, int64_t steps) {
  mg::manual_seed(0);
  mixgrad::models::CifarCnnMoE model;
  mg::optim::Adam optimizer(model.parameters(), {.lr = 1e-3});
  const int64_t n = data.images.size(0);
  const int64_t batch = std::min(kBatch, n);
  std::vector<float> losses;
  for (int64_t step = 0; step < steps; ++step) {
    const int64_t start = step * batch % (n - batch + 1);
    // Pixels from [0, 1] to [-1, 1], as the PyTorch CIFAR-10 tutorial normalises them.
    const auto images = (data.images.narrow(0, start, batch) - 0.5) * 2.0;
    const auto labels = data.labels.narrow(0, start, batch);
    optimizer.zero_grad();
    const auto out = model(images);
    const auto loss = mg::cross_entropy(out.output, labels) + out.aux_loss;
    loss.backward();
    optimizer.step();
    losses.push_back(loss.item<float>());
    if (step % 10 == 0 || step + 1 == steps) {
      std::cout << "step " << step << "  loss " << losses.back() << "  images per expert";
      for (int64_t count : out.tokens_per_expert.to_vector<int64_t>()) std::cout << " " << count;
      std::cout << "\n";
    }
  }
  return losses;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Arguments args = parse_arguments(argc, argv);
    const bool generated = args.data.empty();
    const int64_t steps = args.steps > 0 ? args.steps : (generated ? 150 : 200);
    std::vector<float> losses;
    if (generated) {
      GeneratedData scratch;
      std::cout << "no CIFAR-10 path given: training on one generated batch of " << kBatch
                << " images written in the CIFAR-10 binary format to " << scratch.dir() << "\n";
      losses = train(mg::data::read_cifar10(batch_files(scratch.dir())), steps);
    } else {
      const auto data = mg::data::read_cifar10(batch_files(args.data));
      std::cout << "training on " << data.images.size(0) << " CIFAR-10 images from " << args.data
                << "\n";
      losses = train(data, steps);
    }
    const bool finite =
        std::all_of(losses.begin(), losses.end(), [](float l) { return std::isfinite(l); });
    if (!finite) {
      std::cerr << "the loss is not finite\n";
      return 1;
    }
    // On the one generated batch the network must fit; on real data one pass of a few steps
    // need not beat its first minibatch, so only finiteness is checked there.
    if (generated) {
      const std::size_t tail = std::min<std::size_t>(10, losses.size());
      const float tail_mean =
          std::accumulate(losses.end() - tail, losses.end(), 0.0f) / static_cast<float>(tail);
      std::cout << "first loss " << losses.front() << ", mean of the last " << tail << " "
                << tail_mean << "\n";
      if (!(tail_mean < 0.6f * losses.front())) {
        std::cerr << "the loss did not decrease enough\n";
        return 1;
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "example_cifar_cnn_moe: " << e.what() << "\n";
    return 1;
  }
}
