#pragma once
// The routing interface of MoE layers: a gate looks at T tokens and says which experts each
// token goes to and with what combine weight. Gates differ in how they decide (top-k softmax,
// noisy top-k, expert choice, ...) and in the balancing losses they add.
#include "nn/module.h"

namespace mixgrad::models {

// What a gate decides for T tokens, as k (token, expert) pairs per token.
struct Routing {
  Tensor expert_index;  // int64 [T, k]
  Tensor gates;         // [T, k] combine weights (differentiable)
  Tensor keep;          // bool [T, k] pairs the gate itself keeps; undefined: all of them
  Tensor probs;         // [T, E] router probabilities, for statistics
  Tensor aux_loss;      // 0-dim: the gate's weighted balancing losses, summed
  // Named parts of aux_loss (e.g. "switch", "z", "importance", "load"), each weighted.
  std::vector<std::pair<std::string, Tensor>> losses;
  // True when the gate already bounds each expert's load (expert choice): the layer then
  // applies no capacity of its own.
  bool load_bounded = false;
};

class Gate : public nn::Module {
 public:
  // x [T, d_model] -> routing of every token. Throws Error for input of the wrong width.
  virtual Routing route(const Tensor& x) = 0;
  virtual int64_t num_experts() const = 0;
  virtual int64_t d_model() const = 0;
};

}  // namespace mixgrad::models
