#include "nn/dropout.h"

#include "nn/repr.h"
#include "ops/functional.h"

namespace mixgrad::nn {

Dropout::Dropout(double p, Generator* generator) : p_(p), generator_(generator) {
  MG_CHECK(p >= 0 && p <= 1, "Dropout", "probability must be in [0, 1], got ", p);
}

Tensor Dropout::forward(const Tensor& input) {
  return dropout(input, p_, is_training(), generator_);
}

std::string Dropout::extra_repr() const {
  return "p=" + format_number(p_);
}

}  // namespace mixgrad::nn
