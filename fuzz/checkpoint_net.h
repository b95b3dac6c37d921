#pragma once
// The model the checkpoint fuzz targets load into, and the seed generator saves from.
#include <filesystem>
#include <string>

#include "fuzz/fuzz_input.h"
#include "io/checkpoint.h"
#include "io/sharded_checkpoint.h"
#include "nn/nn.h"
#include "ops/ops.h"
#include "optim/optim.h"

namespace mixgrad::fuzz {

// Parameters, a norm and an integer buffer: the kinds of tensor a checkpoint holds.
struct CheckpointNet : nn::Module {
  nn::Linear fc1{3, 4};
  nn::LayerNorm norm{{4}};
  nn::Linear fc2{4, 2};
  Tensor counter = register_buffer("counter", tensor({7}, kInt64));
  CheckpointNet() {
    register_module("fc1", fc1);
    register_module("norm", norm);
    register_module("fc2", fc2);
  }
  Tensor forward(const Tensor& x) override { return fc2(relu(norm(fc1(x)))); }
};

inline void train_step(CheckpointNet& net, optim::Optimizer& opt) {
  opt.zero_grad();
  net(ones({2, 3})).square().mean().backward();
  opt.step();
}

// load_checkpoint of `path` (a file or a directory of parts) into a fresh CheckpointNet and Adam
// (a load changes both, and inputs must not depend on earlier ones). Whatever it accepts must
// leave them able to train: a load that passes validation and then breaks the next step is a
// finding.
inline void load_then_train(const std::string& path) {
  CheckpointNet net;
  optim::Adam adam(net.parameters(), {.lr = 0.01});
  if (!accepts([&] { io::load_checkpoint(path, net, &adam); })) return;
  try {
    train_step(net, adam);
  } catch (const Error& e) {
    finding(std::string("a step after an accepted load failed: ") + e.what());
  }
}

// The sharded_checkpoint target: a checkpoint of a trained CheckpointNet in two parts, as
// several processes write one. Part "a" holds everything but rows 2..3 of fc1.weight and of its
// Adam buffers; part "b" (the fuzz input; this is its seed) holds those rows.
inline io::CheckpointPart checkpoint_net_part(bool part_b) {
  manual_seed(0);
  CheckpointNet net;
  optim::Adam adam(net.parameters(), {.lr = 0.01});
  train_step(net, adam);
  const optim::OptimizerState state = adam.state_dict();
  io::CheckpointPart part;
  auto add = [&](const std::string& stored, const Tensor& t, NamedTensors& into,
                 const std::string& name) {
    if (name.ends_with("fc1.weight") || name.starts_with("state.0.0.")) {  // fc1.weight's
      into.emplace_back(name, t.narrow(0, part_b ? 2 : 0, 2));
      part.rows[stored] = {part_b ? 2 : 0, t.size(0)};
    } else if (!part_b) {
      into.emplace_back(name, t);
    }
  };
  for (const auto& [name, t] : net.state_dict()) add(name, t, part.contents.module_state, name);
  for (const auto& [name, t] : state.tensors)
    add(io::kOptimizerPrefix + name, t, part.contents.optimizer_tensors, name);
  if (!part_b) part.contents.optimizer_scalars = state.scalars;
  return part;
}

// The file of part "b" in the sharded_checkpoint target's directory (manifest generation "g").
inline constexpr const char* kShardedInputFile = "part-b.g.safetensors";

}  // namespace mixgrad::fuzz
