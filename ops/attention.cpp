// scaled_dot_product_attention: validation here, then either the fused kernels
// (kernels::attention_forward / attention_backward, linear memory in T) or the composite
// reference (matmul, softmax, where: [B, H, Tq, Tk] probabilities, which dropout and a mask
// that needs a gradient require).
#include "ops/attention.h"

#include <cmath>
#include <limits>

#include "autograd/function.h"
#include "backends/kernels.h"
#include "core/grad_mode.h"
#include "ops/ops.h"

namespace mixgrad {

namespace {

struct Sizes {
  int64_t batch = 0, heads = 0, kv_heads = 0, tq = 0, tk = 0, d = 0, dv = 0;
  int64_t group() const { return kv_heads > 0 ? heads / kv_heads : 1; }
  Shape scores() const { return {batch, heads, tq, tk}; }
};

void check_tensor(const char* op, const char* name, const Tensor& t) {
  MG_CHECK(t.defined(), op, name, " is undefined");
  MG_CHECK(t.dim() == 4, op, "expected ", name, " of rank 4 ([B, heads, T, features]), got shape ",
           t.shape());
}

// Checks q, k, the mask and the scalar options; Sizes::dv is left 0.
Sizes check_query_key(const char* op, const Tensor& q, const Tensor& k,
                      const AttentionOptions& options) {
  check_tensor(op, "q", q);
  check_tensor(op, "k", k);
  MG_CHECK(q.is_floating_point(), op, "expected a floating q, got ", q.dtype());
  MG_CHECK(k.dtype() == q.dtype(), op, "q, k and v must have one dtype, got q ", q.dtype(),
           " and k ", k.dtype());
  MG_CHECK(k.device() == q.device(), op, "q, k and v must be on one device, got q on ",
           describe(q.device()), " and k on ", describe(k.device()));
  const Sizes s{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3), 0};
  MG_CHECK(k.size(0) == s.batch, op, "batch sizes differ: q ", q.shape(), ", k ", k.shape());
  MG_CHECK(k.size(3) == s.d, op, "q of shape ", q.shape(), " and k of shape ", k.shape(),
           " must have the same feature size");
  MG_CHECK(s.kv_heads > 0 ? s.heads % s.kv_heads == 0 : s.heads == 0, op, "q's ", s.heads,
           " heads must be a multiple of k and v's ", s.kv_heads, " heads (q ", q.shape(), ", k ",
           k.shape(), ")");
  const Tensor& mask = options.mask;
  if (mask.defined()) {
    MG_CHECK(!options.causal, op,
             "causal and an explicit mask cannot be combined (fold the causal triangle into the "
             "mask)");
    MG_CHECK(mask.dtype() == DType::Bool || mask.dtype() == q.dtype(), op,
             "mask must be bool or q's dtype ", q.dtype(), ", got ", mask.dtype());
    MG_CHECK(mask.device() == q.device(), op, "mask is on ", describe(mask.device()),
             " but q is on ", describe(q.device()));
    const Shape target = s.scores();
    bool broadcasts = mask.dim() <= 4;
    for (int64_t i = 1; broadcasts && i <= mask.dim(); ++i) {
      const int64_t m = mask.size(-i), t = target[4 - i];
      broadcasts = m == 1 || m == t;
    }
    MG_CHECK(broadcasts, op, "mask of shape ", mask.shape(),
             " does not broadcast to the scores' [B, H, Tq, Tk] = ", target);
  }
  MG_CHECK(options.dropout >= 0 && options.dropout < 1, op, "dropout must be in [0, 1), got ",
           options.dropout);
  return s;
}

Sizes check_inputs(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                   const AttentionOptions& options) {
  check_tensor(op, "v", v);
  Sizes s = check_query_key(op, q, k, options);
  MG_CHECK(v.dtype() == q.dtype(), op, "q, k and v must have one dtype, got q ", q.dtype(),
           " and v ", v.dtype());
  MG_CHECK(v.device() == q.device(), op, "q, k and v must be on one device, got q on ",
           describe(q.device()), " and v on ", describe(v.device()));
  MG_CHECK(v.size(0) == s.batch, op, "batch sizes differ: q ", q.shape(), ", v ", v.shape());
  MG_CHECK(v.size(1) == s.kv_heads && v.size(2) == s.tk, op, "k of shape ", k.shape(),
           " and v of shape ", v.shape(), " must have the same heads and length");
  s.dv = v.size(3);
  return s;
}

double scale_of(const Sizes& s, const AttentionOptions& options) {
  if (options.scale) return *options.scale;
  return s.d > 0 ? 1.0 / std::sqrt(static_cast<double>(s.d)) : 1.0;
}

// k or v [B, Hkv, T, F] with each head repeated `group` times: [B, Hkv * group, T, F].
Tensor repeat_heads(const Tensor& x, int64_t group) {
  if (group == 1) return x;
  const int64_t b = x.size(0), h = x.size(1), t = x.size(2), f = x.size(3);
  return reshape(expand(unsqueeze(x, 2), {b, h, group, t, f}), {b, h * group, t, f});
}

Tensor probabilities(const Tensor& q, const Tensor& k, const Sizes& s,
                     const AttentionOptions& options) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  Tensor scores = matmul(q, transpose(repeat_heads(k, s.group()), -2, -1)) * scale_of(s, options);
  if (options.causal) {
    // Key j is visible to query i when j <= i.
    const TensorOptions index = TensorOptions(kInt64).device(q.device());
    const Tensor visible = le(arange(s.tk, index).view({1, -1}), arange(s.tq, index).view({-1, 1}));
    scores = masked_fill(scores, logical_not(visible), -kInf);
  } else if (options.mask.defined()) {
    scores = options.mask.dtype() == DType::Bool
                 ? masked_fill(scores, logical_not(options.mask), -kInf)
                 : scores + options.mask;
  }
  // Only a mask can block every key of a row (causal leaves key 0 to all): such a row would be
  // 0 / 0 in the softmax, and NaN in its gradient too (where's backward passes 0, but 0 * NaN is
  // NaN), so its scores are replaced by zeros before the softmax and its probabilities by zeros
  // after it: it outputs 0 and passes no gradient.
  if (!options.mask.defined() && s.tk > 0) return softmax(scores, -1);
  const Tensor live = any(ne(scores, -kInf), {-1}, true);
  return where(live, softmax(where(live, scores, 0.0), -1), 0.0);
}

Tensor reference(const Tensor& q, const Tensor& k, const Tensor& v, const Sizes& s,
                 const AttentionOptions& options) {
  Tensor probs = probabilities(q, k, s, options);
  if (options.dropout > 0) probs = dropout(probs, options.dropout, true, options.generator);
  return matmul(probs, repeat_heads(v, s.group()));
}

Tensor fused(const Tensor& q, const Tensor& k, const Tensor& v, const Sizes& s,
             const AttentionOptions& options) {
  constexpr const char* op = "scaled_dot_product_attention";
  const kernels::AttentionParams params{scale_of(s, options), options.causal};
  Tensor qc, kc, vc, mask;
  {
    NoGradGuard no_grad;
    qc = contiguous(q);
    kc = contiguous(k);
    vc = contiguous(v);
    if (options.mask.defined()) mask = options.mask.expand(s.scores());
  }
  const TensorOptions opts = options_of(q);
  Tensor out = empty({s.batch, s.heads, s.tq, s.dv}, opts);
  Tensor lse = empty({s.batch, s.heads, s.tq}, opts);
  kernels::attention_forward(q.device(), out, lse, qc, kc, vc, mask, params);
  record(op, out, {q, k, v},
         [sq = save(qc), sk = save(kc), sv = save(vc), so = save(out), sm = save(mask), lse,
          params](const Tensor& g, InputGrads grads) {
           const Tensor &qs = sq.get(), &ks = sk.get(), &vs = sv.get();
           Tensor dq = empty(qs.shape(), options_of(qs));
           Tensor dk = empty(ks.shape(), options_of(ks));
           Tensor dv = empty(vs.shape(), options_of(vs));
           kernels::attention_backward(qs.device(), dq, dk, dv, contiguous(to(g, qs.dtype())), qs,
                                       ks, vs, so.get(), lse, sm.get(), params);
           if (grads[0].needed()) grads[0].add(dq);
           if (grads[1].needed()) grads[1].add(dk);
           if (grads[2].needed()) grads[2].add(dv);
         });
  return out;
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& options) {
  const Sizes s = check_inputs("scaled_dot_product_attention", q, k, v, options);
  const bool empty_dims =
      s.batch == 0 || s.heads == 0 || s.tq == 0 || s.tk == 0 || s.d == 0 || s.dv == 0;
  // The kernel handles neither dropout (its mask would need [Tq, Tk] storage or replaying the
  // random stream in the backward) nor a gradient for the mask (which is [B, H, Tq, Tk] itself).
  const bool use_fused = kernels::attention_forward.has(q.device()) && options.dropout == 0 &&
                         !should_record({options.mask}) && !empty_dims;
  return use_fused ? fused(q, k, v, s, options) : reference(q, k, v, s, options);
}

Tensor attention_probabilities(const Tensor& q, const Tensor& k, const AttentionOptions& options) {
  const Sizes s = check_query_key("attention_probabilities", q, k, options);
  return probabilities(q, k, s, options);
}

Tensor scaled_dot_product_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                                              const AttentionOptions& options) {
  const Sizes s = check_inputs("scaled_dot_product_attention_reference", q, k, v, options);
  return reference(q, k, v, s, options);
}

}  // namespace mixgrad
