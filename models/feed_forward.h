#pragma once
// The feed-forward half of a Transformer block as one interface, so that a block takes a dense
// MLP, a SwiGLU MLP or any MoE layer of the library alike: each maps x [..., d] to the same shape
// and reports its auxiliary (load-balancing) loss and expert load.
#include "models/activation.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace mixgrad::models {

struct MoEOutput {
  Tensor output;             // same shape as the input
  Tensor aux_loss;           // the gate's weighted balancing losses (0-dim; 0 for dense layers)
  Tensor tokens_per_expert;  // int64 [E]: token-slots each expert computed (after drops);
                             // undefined for dense layers
  int64_t dropped = 0;       // token-slots dropped for capacity
  Tensor gate_entropy;       // 0-dim, mean entropy of the router probabilities in nats (no grad);
                             // undefined for dense layers
};

class FeedForward : public nn::Module {
 public:
  // x [..., d_model] -> output of the same shape plus losses and routing statistics.
  virtual MoEOutput operator()(const Tensor& x) = 0;
};

struct DenseFeedForwardOptions {
  int64_t d_model = 0;
  int64_t hidden = 0;
  Activation activation = Activation::GELU;  // SwiGLU makes fc1 2 * hidden wide
  bool bias = true;
  TensorOptions tensor_options = {};
};

// fc2(act(fc1(x))): the Transformer's dense MLP, or with Activation::SwiGLU the gated one of
// LLaMA-style decoders (fc1 then holds the gate's and the up projection's rows, gate first).
class DenseFeedForward : public FeedForward {
 public:
  // Throws Error for non-positive sizes.
  explicit DenseFeedForward(DenseFeedForwardOptions options);
  MoEOutput operator()(const Tensor& x) override;
  std::string extra_repr() const override;

  std::shared_ptr<nn::Linear> fc1, fc2;

 private:
  DenseFeedForwardOptions options_;
};

}  // namespace mixgrad::models
