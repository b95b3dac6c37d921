#include "nn/embedding.h"

#include "core/grad_mode.h"
#include "ops/functional.h"

namespace mixgrad::nn {

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim, TensorOptions options) {
  MG_CHECK(num_embeddings > 0 && embedding_dim > 0, "Embedding",
           "sizes must be positive, got num_embeddings=", num_embeddings,
           " embedding_dim=", embedding_dim);
  options.requires_grad_ = false;
  NoGradGuard no_grad;
  weight = register_parameter("weight", empty({num_embeddings, embedding_dim}, options).normal_());
}

Tensor Embedding::forward(const Tensor& indices) {
  return embedding(weight, indices);
}

std::string Embedding::extra_repr() const {
  return std::to_string(weight.size(0)) + ", " + std::to_string(weight.size(1));
}

}  // namespace mixgrad::nn
