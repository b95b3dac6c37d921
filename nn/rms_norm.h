#pragma once
#include "nn/module.h"
#include "ops/creation.h"

namespace mixgrad::nn {

// Root-mean-square normalisation over the last dim (PyTorch's nn.RMSNorm with one normalised
// dim): x / sqrt(mean(x^2) + eps) * weight, the learned weight starting at ones. eps defaults to
// 1e-6 (LLaMA's; PyTorch's default is the dtype's machine epsilon).
class RMSNorm : public Module {
 public:
  // Throws Error for a non-positive dim or a negative eps.
  explicit RMSNorm(int64_t dim, double eps = 1e-6, bool elementwise_affine = true,
                   TensorOptions options = {});
  // x [..., dim] -> the same shape.
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  Tensor weight;  // [dim]; undefined without elementwise_affine

 private:
  int64_t dim_;
  double eps_;
};

}  // namespace mixgrad::nn
