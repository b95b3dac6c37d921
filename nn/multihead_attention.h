#pragma once
// Multi-head attention (Vaswani et al. 2017) with PyTorch's parameter names and call semantics,
// plus what decoders need: grouped-query attention (fewer key/value heads), rotary position
// embeddings, causal masking and a key/value cache for incremental decoding.
#include <memory>

#include "nn/linear.h"
#include "nn/module.h"
#include "nn/rotary_embedding.h"

namespace mixgrad::nn {

struct MultiheadAttentionOptions {
  int64_t embed_dim = 0;
  int64_t num_heads = 0;
  // Key/value heads; 0 means num_heads. Fewer is grouped-query attention (one key/value head
  // per num_heads / num_kv_heads query heads); 1 is multi-query attention.
  int64_t num_kv_heads = 0;
  double dropout = 0.0;  // on the attention probabilities, in training mode
  bool bias = true;      // in_proj_bias and out_proj.bias
  // Input and output layout: [B, T, E] when true, else PyTorch's default [T, B, E].
  bool batch_first = false;
  int64_t kdim = 0, vdim = 0;  // key / value feature sizes; 0 means embed_dim
  // Rotary position embeddings on queries and keys (0: none), over the first `rotary_dim`
  // features of each head; positions count from the start of the key/value cache.
  int64_t rotary_dim = 0;
  double rotary_base = 10000.0;
  int64_t max_positions = 4096;  // the rotary table's length
  RotaryLayout rotary_layout = RotaryLayout::HalfSplit;
  TensorOptions tensor_options = {};
};

// What one PyTorch MultiheadAttention.forward call takes besides query, key and value.
struct AttentionCall {
  // [B, Tk] (or [Tk] unbatched): true, or -inf when float, marks keys to ignore (padding).
  Tensor key_padding_mask = {};
  // Return the attention weights (PyTorch's default); false takes the fused path.
  bool need_weights = true;
  // [Tq, Tk] or [B * num_heads, Tq, Tk]: bool with true = not allowed (PyTorch's convention for
  // this module, the opposite of scaled_dot_product_attention's), or float added to the scores.
  Tensor attn_mask = {};
  bool average_attn_weights = true;  // weights averaged over the heads: [B, Tq, Tk]
  bool is_causal = false;            // query i sees keys j <= i (with or without attn_mask)
};

struct AttentionResult {
  Tensor output;   // the query's layout
  Tensor weights;  // [B, Tq, Tk] or [B, H, Tq, Tk]; undefined unless need_weights
};

// Keys and values of the positions decoded so far, for one attention layer. The layer allocates
// [B, num_kv_heads, capacity, head_dim] on first use and appends each step's keys and values.
// Move-only: a copy would share the key/value storage but keep its own length, so that two
// branches would silently overwrite each other's positions.
struct KVCache {
  explicit KVCache(int64_t capacity) : capacity(capacity) {}
  KVCache(KVCache&&) = default;
  KVCache& operator=(KVCache&&) = default;
  KVCache(const KVCache&) = delete;
  KVCache& operator=(const KVCache&) = delete;
  int64_t capacity;
  int64_t length = 0;  // positions held
  Tensor k, v;
  void clear() { length = 0; }
};

class MultiheadAttention : public Module {
 public:
  // Parameters as PyTorch's: in_proj_weight [E + 2 * kv_width, E] and in_proj_bias when the key
  // and value sizes are E (kv_width = num_kv_heads * head_dim, so [3E, E] without grouped
  // queries), else q_proj_weight [E, E], k_proj_weight [kv_width, kdim] and v_proj_weight
  // [kv_width, vdim]; out_proj a Linear(E, E). Xavier-uniform projections, zero biases.
  // Throws Error for non-positive sizes, embed_dim not divisible by num_heads, num_heads not
  // divisible by num_kv_heads, dropout outside [0, 1), or a rotary_dim that is odd or larger
  // than the head size.
  explicit MultiheadAttention(MultiheadAttentionOptions options);

  // PyTorch's forward: query [Tq, B, E] (batch_first: [B, Tq, E]; or unbatched [Tq, E]), key
  // [Tk, B, kdim], value [Tk, B, vdim] in the same layout. Throws Error for mismatched shapes or
  // masks.
  AttentionResult operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                             const AttentionCall& call = {});

  // Self-attention over x in the module's layout, through the fused path (no weights). With a
  // cache, x holds the positions after the cached ones: its keys and values are appended and the
  // queries attend to every cached position too (and, with causal, to the earlier new ones).
  // Throws Error when the cache's capacity or batch does not fit.
  Tensor self_attention(const Tensor& x, bool causal, KVCache* cache = nullptr);

  std::string extra_repr() const override;
  const MultiheadAttentionOptions& options() const { return options_; }
  int64_t head_dim() const { return head_dim_; }

  Tensor in_proj_weight, in_proj_bias;                 // undefined when kdim / vdim differ
  Tensor q_proj_weight, k_proj_weight, v_proj_weight;  // defined only then
  std::shared_ptr<Linear> out_proj;
  std::shared_ptr<RotaryEmbedding> rotary;  // null without rotary_dim

 private:
  struct Heads {
    Tensor q, k, v;  // [B, H, Tq, hd], [B, Hkv, Tk, hd], [B, Hkv, Tk, hd]
  };
  // Projects batch-first inputs and splits them into heads; rotary at positions from `offset`.
  Heads project(const Tensor& query, const Tensor& key, const Tensor& value, bool self,
                int64_t offset);
  // [B, H, T, hd] -> out_proj([B, T, E]), back in the module's layout.
  Tensor merge(const Tensor& heads, bool unbatched);

  MultiheadAttentionOptions options_;
  int64_t num_kv_heads_ = 0;
  int64_t head_dim_ = 0;
};

}  // namespace mixgrad::nn
