#pragma once
#include "nn/module.h"
#include "ops/creation.h"
#include "ops/rotary.h"

namespace mixgrad::nn {

// Rotary position embeddings (RoPE) with a precomputed table: feature pair i at position t turns
// by t * base^(-2i / dim). Applied to queries and keys of shape [..., T, head_dim]; dim <= head_dim
// features are rotated (partial rotary when smaller), the rest pass unchanged.
class RotaryEmbedding : public Module {
 public:
  // Throws Error for an odd or non-positive dim, max_positions < 1 or base <= 1.
  explicit RotaryEmbedding(int64_t dim, int64_t max_positions = 4096, double base = 10000.0,
                           RotaryLayout layout = RotaryLayout::HalfSplit,
                           TensorOptions options = {});
  using Module::operator();
  // x [..., T, D] at positions 0..T-1.
  Tensor forward(const Tensor& x) override { return (*this)(x, 0); }
  // x [..., T, D] at positions offset..offset+T-1 (incremental decoding passes the cached
  // length). Throws Error when the positions pass max_positions or x's features are fewer than
  // dim.
  Tensor operator()(const Tensor& x, int64_t offset);
  std::string extra_repr() const override;
  int64_t dim() const { return dim_; }
  int64_t max_positions() const { return max_positions_; }
  RotaryLayout layout() const { return layout_; }

  Tensor cos, sin;  // [max_positions, dim / 2], non-persistent buffers (derived from the options)

 private:
  int64_t dim_;
  int64_t max_positions_;
  double base_;
  RotaryLayout layout_;
};

}  // namespace mixgrad::nn
