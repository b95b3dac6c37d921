#pragma once
// MANN, the Mode-Adaptive Neural Network of Zhang, Starke, Komura and Saito (2018): a small
// gating network reads a chosen subset of the input features and produces per-sample blending
// coefficients over E experts; a three-layer motion network whose every layer blends its
// experts' weights with them.
#include <vector>

#include "models/blended_linear.h"
#include "nn/containers.h"
#include "nn/dropout.h"

namespace mixgrad::models {

struct MANNOptions {
  int64_t input_dim = 480;
  int64_t output_dim = 363;
  // Columns of the input the gating network sees (foot velocities, commanded velocity, ...).
  std::vector<int64_t> gating_indices;
  int64_t num_experts = 8;
  int64_t hidden = 512;
  int64_t gating_hidden = 32;
  double dropout = 0.3;  // the paper's keep probability 0.7, on each motion-layer input
  TensorOptions tensor_options = {};
};

class MANN : public nn::Module {
 public:
  // Throws Error for non-positive sizes, an empty gating index list or an index outside
  // [0, input_dim).
  explicit MANN(MANNOptions options);
  // x [B, input_dim] -> [B, output_dim].
  Tensor forward(const Tensor& x) override;
  // The gating network's softmax output for x: [B, num_experts].
  Tensor blend_coefficients(const Tensor& x);
  std::string extra_repr() const override;

  const MANNOptions& options() const { return options_; }

 private:
  MANNOptions options_;
  Tensor gating_index_;
  std::shared_ptr<nn::Sequential> gating_;
  std::shared_ptr<nn::ModuleList> layers_;  // three BlendedLinear
  nn::Dropout dropout_;
};

}  // namespace mixgrad::models
