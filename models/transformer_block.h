#pragma once
// A pre-norm decoder block (GPT-2 / LLaMA / Mixtral layout):
//   h = x + dropout(attention(norm1(x)));  y = h + dropout(feed_forward(norm2(h)))
// where the feed-forward is any FeedForward: a dense or SwiGLU MLP, or an MoE layer (sparse
// top-k, expert choice, hierarchical, with shared experts), whose auxiliary loss the block
// returns with its output.
// Causality holds for the attention only: routing that looks across tokens (expert choice, or
// top-k with a capacity that drops) lets later positions change an earlier one's experts. Decoders
// that generate token by token want token-choice routing without drops in evaluation (as
// MoETransformerLM's default MoE layers are), so cached and uncached runs agree.
#include <memory>

#include "models/feed_forward.h"
#include "nn/dropout.h"
#include "nn/multihead_attention.h"

namespace mixgrad::models {

enum class NormKind { RMSNorm, LayerNorm };

struct TransformerBlockOptions {
  int64_t d_model = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;  // 0: num_heads; fewer is grouped-query attention
  bool causal = true;
  // Rotary embeddings over the first rotary_dim features of each head: -1 the whole head, 0 none.
  int64_t rotary_dim = -1;
  double rotary_base = 10000.0;
  int64_t max_positions = 4096;
  bool attention_bias = false;
  double attention_dropout = 0.0;  // on the attention probabilities
  double dropout = 0.0;            // on each branch before its residual add
  NormKind norm = NormKind::RMSNorm;
  double norm_eps = 1e-6;
  TensorOptions tensor_options = {};
};

class TransformerBlock : public nn::Module {
 public:
  // Throws Error for bad attention options (see MultiheadAttention) or a null feed-forward.
  TransformerBlock(TransformerBlockOptions options, std::shared_ptr<FeedForward> feed_forward);
  // x [B, T, d_model] -> the block's output with the feed-forward's aux_loss and expert load.
  // With a cache, x holds the positions after the cached ones (incremental decoding).
  MoEOutput operator()(const Tensor& x, nn::KVCache* cache = nullptr);
  const TransformerBlockOptions& options() const { return options_; }

  std::shared_ptr<nn::Module> attention_norm;
  std::shared_ptr<nn::MultiheadAttention> attention;
  std::shared_ptr<nn::Module> ffn_norm;
  std::shared_ptr<FeedForward> feed_forward;

 private:
  TransformerBlockOptions options_;
  nn::Dropout dropout_;
};

}  // namespace mixgrad::models
