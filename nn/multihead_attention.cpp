#include "nn/multihead_attention.h"

#include <cmath>

#include "core/grad_mode.h"
#include "nn/init.h"
#include "nn/repr.h"
#include "ops/attention.h"
#include "ops/ops.h"

namespace mixgrad::nn {

namespace {

constexpr const char* kOp = "MultiheadAttention";

Tensor xavier_parameter(Module& m, const char* name, const Shape& shape,
                        const TensorOptions& options) {
  return m.register_parameter(name, init::xavier_uniform_(empty(shape, options)));
}

// PyTorch's masks for this module mark what is *not* allowed (bool true, or float -inf added);
// scaled_dot_product_attention takes bool "may attend" or float additive masks.
Tensor to_attention_mask(const Tensor& mask) {
  return mask.dtype() == kBool ? logical_not(mask) : mask;
}

// Merges two masks of the attention convention (either may be undefined): bool & bool stays bool,
// anything with a float becomes float (blocked bool entries -inf).
Tensor merge_masks(const Tensor& a, const Tensor& b, DType dtype) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  if (a.dtype() == kBool && b.dtype() == kBool) return logical_and(a, b);
  auto additive = [&](const Tensor& m) {
    if (m.dtype() != kBool) return m;
    return masked_fill(zeros(m.shape(), TensorOptions(dtype).device(m.device())), logical_not(m),
                       -INFINITY);
  };
  return additive(a) + additive(b);
}

// Query i (absolute position offset + i) may attend key j iff j <= offset + i: [Tq, Tk] bool.
Tensor causal_mask(int64_t tq, int64_t tk, int64_t offset, Device device) {
  const TensorOptions o = TensorOptions(kInt64).device(device);
  return le(arange(tk, o).view({1, tk}), (arange(tq, o) + offset).view({tq, 1}));
}

}  // namespace

MultiheadAttention::MultiheadAttention(MultiheadAttentionOptions options) : options_(options) {
  const int64_t e = options.embed_dim, h = options.num_heads;
  num_kv_heads_ = options.num_kv_heads > 0 ? options.num_kv_heads : h;
  MG_CHECK(e > 0 && h > 0 && options.num_kv_heads >= 0, kOp,
           "embed_dim and num_heads must be positive (num_kv_heads non-negative), got embed_dim=",
           e, " num_heads=", h, " num_kv_heads=", options.num_kv_heads);
  MG_CHECK(e % h == 0, kOp, "embed_dim ", e, " must be divisible by num_heads ", h);
  MG_CHECK(h % num_kv_heads_ == 0, kOp, "num_heads ", h, " must be divisible by num_kv_heads ",
           num_kv_heads_);
  MG_CHECK(options.dropout >= 0 && options.dropout < 1, kOp, "dropout must be in [0, 1), got ",
           options.dropout);
  MG_CHECK(options.kdim >= 0 && options.vdim >= 0, kOp, "kdim and vdim must not be negative");
  head_dim_ = e / h;
  MG_CHECK(
      options.rotary_dim >= 0 && options.rotary_dim % 2 == 0 && options.rotary_dim <= head_dim_,
      kOp, "rotary_dim must be even and at most the head size ", head_dim_, ", got ",
      options.rotary_dim);
  const int64_t kdim = options.kdim > 0 ? options.kdim : e;
  const int64_t vdim = options.vdim > 0 ? options.vdim : e;
  const int64_t kv_width = num_kv_heads_ * head_dim_;
  TensorOptions t = options.tensor_options;
  t.requires_grad_ = false;
  if (kdim == e && vdim == e) {
    in_proj_weight = xavier_parameter(*this, "in_proj_weight", {e + 2 * kv_width, e}, t);
  } else {
    q_proj_weight = xavier_parameter(*this, "q_proj_weight", {e, e}, t);
    k_proj_weight = xavier_parameter(*this, "k_proj_weight", {kv_width, kdim}, t);
    v_proj_weight = xavier_parameter(*this, "v_proj_weight", {kv_width, vdim}, t);
  }
  if (options.bias) in_proj_bias = register_parameter("in_proj_bias", zeros({e + 2 * kv_width}, t));
  out_proj = register_module("out_proj", std::make_shared<Linear>(e, e, options.bias, t));
  if (options.bias) init::zeros_(out_proj->bias);
  if (options.rotary_dim > 0) {
    rotary = register_module(
        "rotary", std::make_shared<RotaryEmbedding>(options.rotary_dim, options.max_positions,
                                                    options.rotary_base, options.rotary_layout, t));
  }
}

MultiheadAttention::Heads MultiheadAttention::project(const Tensor& query, const Tensor& key,
                                                      const Tensor& value, bool self,
                                                      int64_t offset) {
  const int64_t e = options_.embed_dim, kv_width = num_kv_heads_ * head_dim_;
  auto bias = [&](int64_t start, int64_t length) {
    return in_proj_bias.defined() ? in_proj_bias.narrow(0, start, length) : Tensor();
  };
  Tensor q, k, v;
  if (self && in_proj_weight.defined()) {  // one product for all three
    Tensor qkv = linear(query, in_proj_weight, in_proj_bias);
    q = qkv.narrow(-1, 0, e);
    k = qkv.narrow(-1, e, kv_width);
    v = qkv.narrow(-1, e + kv_width, kv_width);
  } else {
    auto weight = [&](const Tensor& separate, int64_t start, int64_t length) {
      return separate.defined() ? separate : in_proj_weight.narrow(0, start, length);
    };
    q = linear(query, weight(q_proj_weight, 0, e), bias(0, e));
    k = linear(key, weight(k_proj_weight, e, kv_width), bias(e, kv_width));
    v = linear(value, weight(v_proj_weight, e + kv_width, kv_width), bias(e + kv_width, kv_width));
  }
  auto heads = [&](const Tensor& x, int64_t n) {  // [B, T, n * hd] -> [B, n, T, hd]
    return x.reshape({x.size(0), x.size(1), n, head_dim_}).transpose(1, 2);
  };
  Heads out{heads(q, options_.num_heads), heads(k, num_kv_heads_), heads(v, num_kv_heads_)};
  if (rotary) {
    out.q = (*rotary)(out.q, offset);
    out.k = (*rotary)(out.k, offset);
  }
  return out;
}

Tensor MultiheadAttention::merge(const Tensor& heads, bool unbatched) {
  const int64_t b = heads.size(0), t = heads.size(2);
  Tensor y = (*out_proj)(heads.transpose(1, 2).reshape({b, t, options_.embed_dim}));
  if (unbatched) return y.squeeze(0);
  return options_.batch_first ? y : y.transpose(0, 1);
}

AttentionResult MultiheadAttention::operator()(const Tensor& query, const Tensor& key,
                                               const Tensor& value, const AttentionCall& call) {
  MG_CHECK(query.defined() && key.defined() && value.defined(), kOp,
           "query, key and value must be defined");
  const bool unbatched = query.dim() == 2;
  MG_CHECK(
      (query.dim() == 3 || unbatched) && key.dim() == query.dim() && value.dim() == query.dim(),
      kOp, "expected query, key and value all 3-D (batched) or all 2-D (unbatched), got ",
      describe(query), ", ", describe(key), ", ", describe(value));
  // Batch-first views: [B, T, features].
  auto batch_first = [&](const Tensor& x) {
    if (unbatched) return x.unsqueeze(0);
    return options_.batch_first ? x : x.transpose(0, 1);
  };
  const Tensor q_in = batch_first(query), k_in = batch_first(key), v_in = batch_first(value);
  const int64_t e = options_.embed_dim;
  const int64_t kdim = options_.kdim > 0 ? options_.kdim : e;
  const int64_t vdim = options_.vdim > 0 ? options_.vdim : e;
  const int64_t b = q_in.size(0), tq = q_in.size(1), tk = k_in.size(1);
  MG_CHECK(q_in.size(2) == e && k_in.size(2) == kdim && v_in.size(2) == vdim && k_in.size(0) == b &&
               v_in.size(0) == b && v_in.size(1) == tk,
           kOp, "query ", describe(query), ", key ", describe(key), " and value ", describe(value),
           " do not fit embed_dim=", e, ", kdim=", kdim, ", vdim=", vdim,
           (options_.batch_first ? " (batch_first)" : " ([T, B, E] layout)"));
  const bool self = query.is_same(key) && key.is_same(value);
  Heads heads = project(q_in, k_in, v_in, self, 0);

  const int64_t h = options_.num_heads;
  Tensor mask;
  if (call.attn_mask.defined()) {
    const Tensor& m = call.attn_mask;
    const bool per_head = m.dim() == 3 && m.size(0) == b * h && !unbatched;
    MG_CHECK((m.dim() == 2 || per_head || (unbatched && m.dim() == 3 && m.size(0) == h)) &&
                 m.size(-2) == tq && m.size(-1) == tk,
             kOp, "attn_mask must be [", tq, ", ", tk, "] or [", b * h, ", ", tq, ", ", tk,
             "], got ", describe(m));
    mask = to_attention_mask(m.dim() == 3 ? m.reshape({b, h, tq, tk}) : m);
  }
  if (call.key_padding_mask.defined()) {
    const Tensor& m = call.key_padding_mask;
    MG_CHECK(unbatched ? (m.dim() == 1 && m.size(0) == tk)
                       : (m.dim() == 2 && m.size(0) == b && m.size(1) == tk),
             kOp, "key_padding_mask must be ", unbatched ? "[" : "[" + std::to_string(b) + ", ", tk,
             "], got ", describe(m));
    mask = merge_masks(mask, to_attention_mask(m.reshape({b, 1, 1, tk})), query.dtype());
  }
  AttentionOptions attention;
  attention.dropout = is_training() ? options_.dropout : 0.0;
  if (call.is_causal) {
    if (mask.defined())
      mask = merge_masks(mask, causal_mask(tq, tk, 0, query.device()), query.dtype());
    else
      attention.causal = true;
  }
  attention.mask = mask;

  AttentionResult result;
  if (!call.need_weights) {
    result.output =
        merge(scaled_dot_product_attention(heads.q, heads.k, heads.v, attention), unbatched);
    return result;
  }
  Tensor weights = attention_probabilities(heads.q, heads.k, attention);
  if (attention.dropout > 0) weights = dropout(weights, attention.dropout, true);
  const int64_t group = h / num_kv_heads_;
  Tensor v = heads.v;
  if (group > 1) {  // each key/value head serves `group` query heads
    v = v.unsqueeze(2)
            .expand({b, num_kv_heads_, group, tk, v.size(-1)})
            .reshape({b, h, tk, v.size(-1)});
  }
  result.output = merge(matmul(weights, v), unbatched);
  result.weights = call.average_attn_weights ? mean(weights, Shape{1}) : weights;
  if (unbatched) result.weights = result.weights.squeeze(0);
  return result;
}

Tensor MultiheadAttention::self_attention(const Tensor& x, bool causal, KVCache* cache) {
  MG_CHECK(x.defined() && (x.dim() == 3 || x.dim() == 2) && x.size(-1) == options_.embed_dim, kOp,
           "self_attention expects [", options_.batch_first ? "B, T" : "T, B", ", ",
           options_.embed_dim, "] (or unbatched [T, ", options_.embed_dim, "]), got ", describe(x));
  const bool unbatched = x.dim() == 2;
  const Tensor xb = unbatched ? x.unsqueeze(0) : (options_.batch_first ? x : x.transpose(0, 1));
  const int64_t b = xb.size(0), t = xb.size(1);
  const int64_t offset = cache ? cache->length : 0;
  Heads heads = project(xb, xb, xb, true, offset);
  AttentionOptions attention;
  attention.dropout = is_training() ? options_.dropout : 0.0;
  Tensor k = heads.k, v = heads.v;
  if (cache) {
    MG_CHECK(!GradMode::is_enabled() || !k.requires_grad(), kOp,
             "the key/value cache is for inference: decode under NoGradGuard");
    MG_CHECK(offset + t <= cache->capacity, kOp, "the key/value cache holds ", cache->capacity,
             " positions; ", offset, " cached plus ", t, " new do not fit");
    const Shape cache_shape{b, num_kv_heads_, cache->capacity, head_dim_};
    if (!cache->k.defined() || cache->k.shape() != cache_shape || cache->k.dtype() != k.dtype() ||
        cache->k.device() != k.device()) {
      MG_CHECK(offset == 0, kOp, "the key/value cache holds ", describe(cache->k),
               ", which does not fit keys of ", describe(k));
      cache->k = empty(cache_shape, options_of(k));
      cache->v = empty(cache_shape, options_of(v));
    }
    cache->k.narrow(2, offset, t).copy_(k);
    cache->v.narrow(2, offset, t).copy_(v);
    cache->length = offset + t;
    k = cache->k.narrow(2, 0, offset + t);
    v = cache->v.narrow(2, 0, offset + t);
  }
  if (causal && t > 1) {
    // The fused kernels' causal flag aligns the triangle top-left; queries after cached
    // positions need it bottom-right, which an explicit mask says.
    if (offset == 0)
      attention.causal = true;
    else
      attention.mask = causal_mask(t, offset + t, offset, x.device());
  }
  return merge(scaled_dot_product_attention(heads.q, k, v, attention), unbatched);
}

std::string MultiheadAttention::extra_repr() const {
  std::string s = "embed_dim=" + std::to_string(options_.embed_dim) +
                  ", num_heads=" + std::to_string(options_.num_heads);
  if (num_kv_heads_ != options_.num_heads) s += ", num_kv_heads=" + std::to_string(num_kv_heads_);
  if (options_.dropout > 0) s += ", dropout=" + format_number(options_.dropout);
  if (!options_.bias) s += ", bias=false";
  if (options_.batch_first) s += ", batch_first=true";
  return s;
}

}  // namespace mixgrad::nn
