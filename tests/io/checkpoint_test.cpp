#include "io/checkpoint.h"

#include <gtest/gtest.h>

#include <cstring>

#include "io/io_test_util.h"
#include "io/safetensors.h"
#include "mixgrad.h"

namespace mixgrad::io {
namespace {

using mixgrad::testing::read_bytes;
using mixgrad::testing::ScratchDir;
using mixgrad::testing::write_bytes;

struct Net : nn::Module {
  nn::Linear fc1{3, 5};
  nn::LayerNorm norm{{5}};
  nn::Linear fc2{5, 2};
  Tensor counter = register_buffer("counter", tensor({7}, kInt64));
  Net() {
    register_module("fc1", fc1);
    register_module("norm", norm);
    register_module("fc2", fc2);
  }
  Tensor forward(const Tensor& x) override { return fc2(relu(norm(fc1(x)))); }
};

void train_steps(Net& net, optim::Optimizer& opt, int steps, uint64_t seed) {
  Generator gen(seed);
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    net(randn({4, 3}, {}, &gen)).square().mean().backward();
    opt.step();
  }
}

// Bit patterns, so that -0.0 and NaN compare as stored.
std::vector<uint64_t> bits(const Tensor& t) {
  std::vector<double> values = t.to_vector<double>();
  std::vector<uint64_t> out(values.size());
  std::memcpy(out.data(), values.data(), values.size() * sizeof(double));
  return out;
}

void expect_same_state(const nn::Module& a, const nn::Module& b) {
  auto sa = a.state_dict(), sb = b.state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (std::size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].first, sb[i].first);
    EXPECT_EQ(sa[i].second.dtype(), sb[i].second.dtype()) << sa[i].first;
    EXPECT_EQ(bits(sa[i].second), bits(sb[i].second)) << sa[i].first;
  }
}

TEST(Checkpoint, ModuleAndOptimizerRoundTripBitwise) {
  ScratchDir dir;
  manual_seed(1);
  Net a;
  optim::Adam opt_a(a.parameters(), {.lr = 0.01});
  train_steps(a, opt_a, 3, 10);
  save_checkpoint(dir.path("ckpt.safetensors"), a, &opt_a, {{"epoch", "3"}});

  manual_seed(2);
  Net b;
  optim::Adam opt_b(b.parameters(), {.lr = 0.5});
  auto metadata = load_checkpoint(dir.path("ckpt.safetensors"), b, &opt_b);
  EXPECT_EQ(metadata, (std::map<std::string, std::string>{{"epoch", "3"}}));
  expect_same_state(a, b);
  EXPECT_EQ(opt_b.lr(), 0.01);
  EXPECT_EQ(opt_b.step_count(), 3);
  // Both continue identically.
  train_steps(a, opt_a, 2, 20);
  train_steps(b, opt_b, 2, 20);
  expect_same_state(a, b);
}

TEST(Checkpoint, FileIsPlainSafetensorsWithModuleNames) {
  ScratchDir dir;
  Net net;
  save_checkpoint(dir.path("m.safetensors"), net);
  SafetensorsFile file = load_safetensors(dir.path("m.safetensors"));
  std::vector<std::string> names;
  for (const auto& [name, t] : file.tensors) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "fc1.bias", "norm.weight", "norm.bias",
                                             "fc2.weight", "fc2.bias", "counter"}));
  EXPECT_EQ(file.metadata, (StringMap{{"format", "pt"}}));
  // A module-only checkpoint loads without an optimizer, and with one it is an error.
  Net other;
  load_checkpoint(dir.path("m.safetensors"), other);
  expect_same_state(net, other);
  optim::SGD sgd(other.parameters(), {.lr = 0.1});
  EXPECT_MG_ERROR(load_checkpoint(dir.path("m.safetensors"), other, &sgd),
                  "holds no optimizer state");
}

TEST(Checkpoint, MismatchesChangeNeitherModuleNorOptimizer) {
  ScratchDir dir;
  Net a;
  optim::SGD opt_a(a.parameters(), {.lr = 0.1, .momentum = 0.9});
  train_steps(a, opt_a, 1, 3);
  save_checkpoint(dir.path("a.safetensors"), a, &opt_a);

  // An optimizer of another kind: the module must stay as it was.
  Net b;
  auto before = b.state_dict();
  std::vector<std::vector<uint64_t>> before_bits;
  for (auto& [name, t] : before) before_bits.push_back(bits(t.clone()));
  optim::Adam adam(b.parameters());
  EXPECT_MG_ERROR(load_checkpoint(dir.path("a.safetensors"), b, &adam), "load_checkpoint");
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_EQ(bits(before[i].second), before_bits[i]);
  EXPECT_EQ(adam.step_count(), 0);

  // A module of another shape: the optimizer must stay as it was.
  struct Wider : nn::Module {
    nn::Linear fc1{3, 6};
    Wider() { register_module("fc1", fc1); }
  } wider;
  optim::SGD opt_w(wider.parameters(), {.lr = 0.3, .momentum = 0.9});
  EXPECT_MG_ERROR(load_checkpoint(dir.path("a.safetensors"), wider, &opt_w),
                  "'fc1.weight' has shape [5, 3], the module expects [6, 3]");
  EXPECT_EQ(opt_w.lr(), 0.3);
  EXPECT_EQ(opt_w.step_count(), 0);
}

TEST(Checkpoint, CorruptFileLeavesTheModuleIntact) {
  ScratchDir dir;
  Net a, b;
  save_checkpoint(dir.path("a.safetensors"), a);
  std::string bytes = read_bytes(dir.path("a.safetensors"));
  write_bytes(dir.path("cut.safetensors"), bytes.substr(0, bytes.size() - 5));
  std::vector<double> before = b.fc1.weight.to_vector<double>();
  EXPECT_MG_ERROR(load_checkpoint(dir.path("cut.safetensors"), b), "cut.safetensors");
  EXPECT_EQ(b.fc1.weight.to_vector<double>(), before);
  EXPECT_MG_ERROR(load_checkpoint(dir.path("missing.safetensors"), b), "missing.safetensors");
}

// A shape whose strides overflow int64 (issue 17's [0, 65536, 65536, 65536, 65536]) is refused by
// the shape check, although the tensor would be empty.
TEST(Checkpoint, OverflowingShapeIsRefused) {
  ScratchDir dir;
  const std::string path = dir.path("overflow.safetensors");
  write_bytes(path, mixgrad::testing::safetensors_bytes(
                        R"({"fc1.weight":{"dtype":"F32","shape":[0,65536,65536,65536,65536],)"
                        R"("data_offsets":[0,0]}})"));
  Net net;
  EXPECT_MG_ERROR(load_checkpoint(path, net),
                  "tensor 'fc1.weight': shape [0, 65536, 65536, 65536, 65536] has more elements "
                  "than int64 can count");
}

TEST(Checkpoint, ReservedNamesAreRefused) {
  ScratchDir dir;
  Net net;
  EXPECT_MG_ERROR(
      save_checkpoint(dir.path("x.safetensors"), net, nullptr, {{"__optimizer__.step", "1"}}),
      "reserved for optimizer state");
  EXPECT_TRUE(dir.listing().empty());
}

TEST(Checkpoint, SavingOverAnOldCheckpointReplacesIt) {
  ScratchDir dir;
  Net a, b;
  save_checkpoint(dir.path("c.safetensors"), a);
  save_checkpoint(dir.path("c.safetensors"), b);
  Net c;
  load_checkpoint(dir.path("c.safetensors"), c);
  expect_same_state(b, c);
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"c.safetensors"});
}

}  // namespace
}  // namespace mixgrad::io
