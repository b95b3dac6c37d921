#pragma once
#include "nn/module.h"
#include "ops/creation.h"

namespace mixgrad::nn {

// A lookup table: forward(indices of any shape) -> [..., embedding_dim]. Weight
// [num_embeddings, embedding_dim], initialised N(0, 1) like PyTorch. Indices are range-checked.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, TensorOptions options = {});
  Tensor forward(const Tensor& indices) override;
  std::string extra_repr() const override;

  Tensor weight;
};

}  // namespace mixgrad::nn
