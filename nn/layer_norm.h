#pragma once
#include "nn/module.h"
#include "ops/creation.h"

namespace mixgrad::nn {

// Normalises over the trailing `normalized_shape` dims; with `elementwise_affine`, a learned
// weight (ones) and bias (zeros) of that shape follow.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true,
                     TensorOptions options = {});
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

  Tensor weight;  // undefined without elementwise_affine
  Tensor bias;

 private:
  Shape normalized_shape_;
  double eps_;
};

}  // namespace mixgrad::nn
