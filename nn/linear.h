#pragma once
#include "nn/module.h"
#include "ops/creation.h"

namespace mixgrad::nn {

// y = x @ weight^T + bias with weight [out_features, in_features] (PyTorch's layout, so
// checkpoints move between the two unchanged). Initialised like PyTorch: weight and bias
// uniform in +-1/sqrt(in_features).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, TensorOptions options = {});
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

  Tensor weight;
  Tensor bias;  // undefined without bias

 private:
  int64_t in_features_;
  int64_t out_features_;
};

}  // namespace mixgrad::nn
