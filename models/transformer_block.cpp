#include "models/transformer_block.h"

#include "nn/layer_norm.h"
#include "nn/rms_norm.h"

namespace mixgrad::models {

namespace {

std::shared_ptr<nn::Module> make_norm(const TransformerBlockOptions& o) {
  if (o.norm == NormKind::LayerNorm)
    return std::make_shared<nn::LayerNorm>(Shape{o.d_model}, o.norm_eps, true, o.tensor_options);
  return std::make_shared<nn::RMSNorm>(o.d_model, o.norm_eps, true, o.tensor_options);
}

}  // namespace

TransformerBlock::TransformerBlock(TransformerBlockOptions options,
                                   std::shared_ptr<FeedForward> feed_forward_layer)
    : options_(options), dropout_(options.dropout) {
  MG_CHECK(feed_forward_layer != nullptr, "TransformerBlock", "the feed-forward layer is null");
  MG_CHECK(options.d_model > 0 && options.num_heads > 0 && options.d_model % options.num_heads == 0,
           "TransformerBlock", "d_model ", options.d_model,
           " must be positive and divisible by num_heads ", options.num_heads);
  const int64_t head_dim = options.d_model / options.num_heads;
  attention_norm = register_module("attention_norm", make_norm(options));
  attention = register_module(
      "attention", std::make_shared<nn::MultiheadAttention>(nn::MultiheadAttentionOptions{
                       .embed_dim = options.d_model,
                       .num_heads = options.num_heads,
                       .num_kv_heads = options.num_kv_heads,
                       .dropout = options.attention_dropout,
                       .bias = options.attention_bias,
                       .batch_first = true,
                       .rotary_dim = options.rotary_dim < 0 ? head_dim : options.rotary_dim,
                       .rotary_base = options.rotary_base,
                       .max_positions = options.max_positions,
                       .tensor_options = options.tensor_options}));
  ffn_norm = register_module("ffn_norm", make_norm(options));
  feed_forward = register_module("feed_forward", std::move(feed_forward_layer));
  register_module("dropout", dropout_);
}

MoEOutput TransformerBlock::operator()(const Tensor& x, nn::KVCache* cache) {
  MG_CHECK(x.defined() && x.dim() == 3 && x.size(2) == options_.d_model, "TransformerBlock",
           "expected input of shape [B, T, ", options_.d_model, "], got ", describe(x));
  Tensor h = x + dropout_(attention->self_attention((*attention_norm)(x), options_.causal, cache));
  MoEOutput out = (*feed_forward)((*ffn_norm)(h));
  out.output = h + dropout_(out.output);
  return out;
}

}  // namespace mixgrad::models
