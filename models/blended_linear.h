#pragma once
// MANN-style parameter blending (Zhang et al. 2018): a linear layer whose weight and bias are
// per-sample mixtures of E expert weight sets, W(x) = sum_e alpha_e(x) W_e, b(x) = sum_e
// alpha_e(x) b_e, with the mixing coefficients alpha supplied by a gating network.
#include "nn/module.h"
#include "ops/creation.h"

namespace mixgrad::models {

// How BlendedLinear evaluates the same mathematics.
enum class BlendMode {
  // Blend the weights per sample (alpha @ W_all -> [B, out, in]), then one matrix-vector
  // product per sample: cheapest when the batch is tiny.
  Weights,
  // One GEMM of x against all experts' weights ([B, in] @ [in, E*out]), then contract the E
  // outputs with alpha: no per-sample weight is ever materialised.
  Outputs,
  // Weights when gradients are recorded and the batch is at most
  // Options::blend_weights_max_batch, Outputs otherwise (see BlendedLinear::forward).
  Auto,
};

class BlendedLinear : public nn::Module {
 public:
  struct Options {
    BlendMode mode = BlendMode::Auto;
    int64_t blend_weights_max_batch = 2;
    bool bias = true;
    TensorOptions tensor_options = {};
  };
  // Expert weights [E, out, in] (each expert stored like a PyTorch Linear), biases [E, out];
  // initialised as the original MANN code: uniform in +-sqrt(6 / (out * in)), biases zero.
  BlendedLinear(int64_t in_features, int64_t out_features, int64_t num_experts, Options options);
  BlendedLinear(int64_t in_features, int64_t out_features, int64_t num_experts)
      : BlendedLinear(in_features, out_features, num_experts, Options{}) {}

  // x [B, in], alpha [B, E] -> [B, out]. Throws Error on mismatched shapes or dtypes.
  Tensor operator()(const Tensor& x, const Tensor& alpha);
  // Evaluates with an explicit mode (Auto resolves by batch size).
  Tensor forward(const Tensor& x, const Tensor& alpha, BlendMode mode);
  using nn::Module::forward;  // stays visible, and throws: a blended layer takes two inputs
  std::string extra_repr() const override;

  int64_t num_experts() const { return weight.size(0); }

  Tensor weight;  // [E, out, in]
  Tensor bias;    // [E, out], undefined without bias

 private:
  Options options_;
};

}  // namespace mixgrad::models
