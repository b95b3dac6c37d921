#include "nn/rotary_embedding.h"

#include <cmath>
#include <vector>

#include "nn/repr.h"
#include "ops/copy.h"

namespace mixgrad::nn {

RotaryEmbedding::RotaryEmbedding(int64_t dim, int64_t max_positions, double base,
                                 RotaryLayout layout, TensorOptions options)
    : dim_(dim), max_positions_(max_positions), base_(base), layout_(layout) {
  MG_CHECK(dim > 0 && dim % 2 == 0, "RotaryEmbedding", "dim must be positive and even, got ", dim);
  MG_CHECK(max_positions > 0, "RotaryEmbedding", "max_positions must be positive, got ",
           max_positions);
  MG_CHECK(base > 1, "RotaryEmbedding", "base must be greater than 1, got ", base);
  // The angles in double: at position 10^4 a float32 product t * freq is already off by 1e-3 rad.
  const int64_t half = dim / 2;
  std::vector<double> c(static_cast<size_t>(max_positions * half));
  std::vector<double> s(c.size());
  for (int64_t i = 0; i < half; ++i) {
    const double freq = std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(dim));
    for (int64_t t = 0; t < max_positions; ++t) {
      const double angle = static_cast<double>(t) * freq;
      c[static_cast<size_t>(t * half + i)] = std::cos(angle);
      s[static_cast<size_t>(t * half + i)] = std::sin(angle);
    }
  }
  options.requires_grad_ = false;
  const TensorOptions host = TensorOptions(kFloat64);
  const DType dtype = options.dtype_or(default_dtype());
  cos = register_buffer(
      "cos",
      mixgrad::to(mixgrad::to(tensor(c, Shape{max_positions, half}, host), dtype), options.device_),
      /*persistent=*/false);
  sin = register_buffer(
      "sin",
      mixgrad::to(mixgrad::to(tensor(s, Shape{max_positions, half}, host), dtype), options.device_),
      /*persistent=*/false);
}

Tensor RotaryEmbedding::operator()(const Tensor& x, int64_t offset) {
  MG_CHECK(x.defined() && x.dim() >= 2 && x.size(-1) >= dim_, "RotaryEmbedding",
           "expected input of shape [..., T, D] with D >= ", dim_, ", got ", describe(x));
  const int64_t length = x.size(-2);
  MG_CHECK(offset >= 0 && offset + length <= max_positions_, "RotaryEmbedding", "positions [",
           offset, ", ", offset + length, ") pass max_positions ", max_positions_);
  return apply_rotary(x, cos.narrow(0, offset, length), sin.narrow(0, offset, length), layout_);
}

std::string RotaryEmbedding::extra_repr() const {
  return "dim=" + std::to_string(dim_) + ", max_positions=" + std::to_string(max_positions_) +
         ", base=" + format_number(base_) +
         ", layout=" + (layout_ == RotaryLayout::HalfSplit ? "half_split" : "interleaved");
}

}  // namespace mixgrad::nn
