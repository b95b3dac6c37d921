#pragma once
#include "core/generator.h"
#include "nn/module.h"

namespace mixgrad::nn {

// Zeroes elements with probability p and rescales the rest by 1/(1-p) in training mode; the
// identity in eval mode. `generator` (optional, not owned) makes the masks reproducible.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* generator = nullptr);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

  double p() const { return p_; }
  Generator* generator() const { return generator_; }

 private:
  double p_;
  Generator* generator_;
};

}  // namespace mixgrad::nn
