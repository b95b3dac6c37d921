#pragma once
// A decoder-only language model with MoE feed-forward layers (Switch Transformer, Mixtral):
// token embedding, N pre-norm TransformerBlocks with rotary attention, a final norm and an output
// head tied to the embedding (or not), plus generate() with a key/value cache.
#include <functional>
#include <memory>
#include <vector>

#include "models/moe.h"
#include "models/transformer_block.h"
#include "nn/containers.h"
#include "nn/embedding.h"

namespace mixgrad::models {

struct MoETransformerLMOptions {
  int64_t vocab_size = 0;
  int64_t d_model = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;    // 0: num_heads
  int64_t max_seq_len = 1024;  // positions the rotary table covers
  // The default feed-forward: an MoE of SwiGLU experts (no biases) in every `moe_every`-th layer
  // (layers moe_every - 1, 2 * moe_every - 1, ...), a dense SwiGLU MLP of width expert_hidden in
  // the others. Evaluation and generation use capacity factor num_experts, so they never drop a
  // token (generation with the cache then equals generation without it).
  int64_t num_experts = 8;
  int64_t k = 2;
  int64_t expert_hidden = 0;  // 0: 8 * d_model / 3 rounded up to a multiple of 8 (LLaMA's)
  int64_t moe_every = 1;
  int64_t shared_experts = 0;
  double switch_loss_coef = 1e-2;
  double z_loss_coef = 1e-3;
  // Training capacity of an expert: this factor times its even share of the T * k token-slots.
  double capacity_factor_train = 1.25;
  bool dropless = false;
  // Replaces the default: the feed-forward of layer `layer` (any FeedForward of width d_model).
  std::function<std::shared_ptr<FeedForward>(int64_t layer)> feed_forward = {};
  bool tie_embeddings = true;
  double dropout = 0.0;
  // Rotary embeddings over the first rotary_dim features of each head: -1 the whole head, 0 none
  // (position then enters only through the causal mask).
  int64_t rotary_dim = -1;
  double rotary_base = 10000.0;
  NormKind norm = NormKind::RMSNorm;
  TensorOptions tensor_options = {};
};

struct LMOutput {
  Tensor logits;                          // [B, T, vocab_size]
  Tensor aux_loss;                        // 0-dim: the feed-forward layers' aux losses summed
  std::vector<Tensor> tokens_per_expert;  // per layer (undefined for dense layers)
  int64_t dropped = 0;                    // token-slots dropped for capacity, all layers
};

struct GenerateOptions {
  int64_t max_new_tokens = 32;
  double temperature = 1.0;  // 0: greedy (argmax)
  int64_t top_k = 0;         // sample among the k most likely tokens only (0: all)
  uint64_t seed = 0;         // the same seed, prompt and model give the same tokens
  bool use_cache = true;     // false recomputes the whole sequence for every new token
};

// The key/value caches of every layer, for incremental decoding with operator().
struct LMCache {
  std::vector<nn::KVCache> layers;
  int64_t length() const { return layers.empty() ? 0 : layers.front().length; }
};

class MoETransformerLM : public nn::Module {
 public:
  // Throws Error for non-positive sizes, bad attention or MoE options, or a feed_forward factory
  // returning null.
  explicit MoETransformerLM(MoETransformerLMOptions options);
  // tokens int64 [B, T] -> logits [B, T, vocab] with the summed aux loss. With a cache, tokens are
  // the positions after the cached ones. Throws Error for tokens out of range or beyond
  // max_seq_len.
  LMOutput operator()(const Tensor& tokens, LMCache* cache = nullptr);
  // An empty cache for sequences of up to `capacity` positions (0: max_seq_len).
  LMCache make_cache(int64_t capacity = 0) const;
  // Continues prompt int64 [B, T0] (T0 >= 1) by max_new_tokens sampled tokens: [B, T0 + n].
  // Runs in evaluation mode without gradients (the training mode is restored after).
  // Throws Error when T0 + max_new_tokens passes max_seq_len, for a negative temperature or
  // top_k, or an empty prompt.
  Tensor generate(const Tensor& prompt, const GenerateOptions& options = {});
  std::string extra_repr() const override;
  const MoETransformerLMOptions& options() const { return options_; }
  // The parameters one token meets: all but the experts its router did not pick (k of E).
  int64_t active_parameters() const;

  std::shared_ptr<nn::Embedding> embedding;
  std::shared_ptr<nn::ModuleList> layers;  // TransformerBlock each
  std::shared_ptr<nn::Module> norm;
  Tensor output_weight;  // [vocab, d_model]: the embedding's weight when tied

 private:
  MoETransformerLMOptions options_;
  std::vector<std::shared_ptr<TransformerBlock>> blocks_;
  nn::Dropout dropout_;
};

}  // namespace mixgrad::models
