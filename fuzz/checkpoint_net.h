#pragma once
// The model the checkpoint fuzz target loads into, and the seed generator saves from.
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

}  // namespace mixgrad::fuzz
