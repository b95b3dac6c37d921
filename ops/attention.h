#pragma once
// Scaled dot-product attention, softmax(Q K^T * scale + mask) V, on [B, H, T, D] tensors, with
// grouped-query attention (fewer key/value heads than query heads). On the CPU it runs fused and
// tiled (online softmax, as FlashAttention): no [Tq, Tk] score matrix is materialised, so the
// extra memory is linear in T, and the backward recomputes the scores tile by tile from the
// saved row log-sum-exp.
#include <optional>

#include "core/generator.h"
#include "core/tensor.h"

namespace mixgrad {

struct AttentionOptions {
  // Broadcastable to [B, H, Tq, Tk]: bool (true = may attend, as PyTorch) or of q's floating
  // dtype (added to the scores; -inf blocks). Undefined: no mask.
  Tensor mask = {};
  // Query i attends to keys j <= i (PyTorch's is_causal: the top-left aligned lower triangle).
  bool causal = false;
  // Dropout on the attention probabilities (applied only where > 0; pass 0 in evaluation).
  double dropout = 0.0;
  Generator* generator = nullptr;    // dropout's random stream (null: the default generator)
  std::optional<double> scale = {};  // default 1 / sqrt(D)
};

// q [B, H, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv] -> [B, H, Tq, Dv], where H is a
// multiple of Hkv and query head h reads key/value head h / (H / Hkv) (PyTorch's enable_gqa).
// Rows whose every key is masked out give 0 (and pass no gradient), not NaN. Differentiable in
// q, k, v and a floating mask. Takes the fused path on the CPU unless dropout > 0 or the mask
// requires grad; the reference path otherwise.
// Throws Error for ranks other than 4, mismatched batch, head or feature sizes, H not a multiple
// of Hkv, non-floating or mixed dtypes, mixed devices, a mask that does not broadcast or has
// another dtype, causal together with a mask, or dropout outside [0, 1).
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& options = {});

// The attention probabilities softmax(Q K^T * scale + mask) [B, H, Tq, Tk] of the options' mask
// and causal flag (dropout not applied), GQA as above; fully masked rows are 0. What the reference
// path and MultiheadAttention's need_weights use. Differentiable in q, k and a floating mask.
Tensor attention_probabilities(const Tensor& q, const Tensor& k,
                               const AttentionOptions& options = {});

// The same function composed of matmul, softmax and where: materialises the [B, H, Tq, Tk]
// probabilities. Kept as the reference the fused path is tested against (and used for dropout).
Tensor scaled_dot_product_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                                              const AttentionOptions& options = {});

}  // namespace mixgrad
