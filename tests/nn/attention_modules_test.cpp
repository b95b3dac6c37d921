// MultiheadAttention, RMSNorm and RotaryEmbedding against their definitions written out with
// plain tensor ops (per head, per batch), in float64.
#include <gtest/gtest.h>

#include <cmath>

#include "common/test_util.h"
#include "mixgrad.h"

namespace mixgrad::nn {
namespace {

using mixgrad::testing::expect_close;
using mixgrad::testing::seeded_randn;

MultiheadAttentionOptions small_options(int64_t kv_heads = 0, bool batch_first = true) {
  return {.embed_dim = 8,
          .num_heads = 4,
          .num_kv_heads = kv_heads,
          .batch_first = batch_first,
          .tensor_options = kFloat64};
}

// Randomises every parameter (the biases start at zero, which would hide bias mistakes).
void randomise(Module& m, uint64_t seed) {
  NoGradGuard no_grad;
  for (Tensor p : m.parameters()) p.copy_(seeded_randn(p.shape(), kFloat64, seed++) * 0.5);
}

// The definition, batch-first inputs: per batch and head, softmax(q k^T / sqrt(d) + mask) v with
// query head h reading key/value head h / (H / Hkv). `allowed` [B, Tq, Tk] (bool) or undefined.
struct Reference {
  Tensor output;   // [B, Tq, E]
  Tensor weights;  // [B, Tq, Tk], averaged over heads
};
Reference reference(MultiheadAttention& m, const Tensor& query, const Tensor& key,
                    const Tensor& value, const Tensor& allowed) {
  const auto& o = m.options();
  const int64_t e = o.embed_dim, h = o.num_heads, hd = m.head_dim();
  const int64_t hkv = o.num_kv_heads > 0 ? o.num_kv_heads : h, kvw = hkv * hd;
  Tensor w = m.in_proj_weight, bias = m.in_proj_bias;
  Tensor q = matmul(query, w.narrow(0, 0, e).t()) + bias.narrow(0, 0, e);
  Tensor k = matmul(key, w.narrow(0, e, kvw).t()) + bias.narrow(0, e, kvw);
  Tensor v = matmul(value, w.narrow(0, e + kvw, kvw).t()) + bias.narrow(0, e + kvw, kvw);
  std::vector<Tensor> batches, weights;
  for (int64_t b = 0; b < query.size(0); ++b) {
    std::vector<Tensor> heads;
    Tensor wsum;
    for (int64_t i = 0; i < h; ++i) {
      const int64_t j = i / (h / hkv);
      Tensor qh = q.select(0, b).narrow(1, i * hd, hd), kh = k.select(0, b).narrow(1, j * hd, hd);
      Tensor vh = v.select(0, b).narrow(1, j * hd, hd);
      Tensor s = matmul(qh, kh.t()) / std::sqrt(static_cast<double>(hd));
      if (allowed.defined()) s = masked_fill(s, logical_not(allowed.select(0, b)), -INFINITY);
      Tensor p = softmax(s, 1);
      heads.push_back(matmul(p, vh));
      wsum = wsum.defined() ? wsum + p : p;
    }
    batches.push_back(cat(heads, 1));
    weights.push_back(wsum / static_cast<double>(h));
  }
  Tensor merged = stack(batches, 0);
  return {(*m.out_proj)(merged), stack(weights, 0)};
}

TEST(MultiheadAttention, ParameterNamesAndShapesMatchPyTorch) {
  MultiheadAttention m(small_options());
  NamedTensors params = m.named_parameters();
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params[0].first, "in_proj_weight");
  EXPECT_EQ(params[0].second.shape(), (Shape{24, 8}));
  EXPECT_EQ(params[1].first, "in_proj_bias");
  EXPECT_EQ(params[1].second.shape(), (Shape{24}));
  EXPECT_EQ(params[2].first, "out_proj.weight");
  EXPECT_EQ(params[3].first, "out_proj.bias");
  // Zero biases, as PyTorch initialises them.
  EXPECT_EQ(m.in_proj_bias.abs().sum().item<double>(), 0.0);
  EXPECT_EQ(m.out_proj->bias.abs().sum().item<double>(), 0.0);

  MultiheadAttention gqa(small_options(2));
  EXPECT_EQ(gqa.in_proj_weight.shape(), (Shape{8 + 2 * 4, 8}));

  MultiheadAttentionOptions o = small_options();
  o.kdim = 3;
  o.vdim = 5;
  MultiheadAttention separate(o);
  EXPECT_FALSE(separate.in_proj_weight.defined());
  EXPECT_EQ(separate.q_proj_weight.shape(), (Shape{8, 8}));
  EXPECT_EQ(separate.k_proj_weight.shape(), (Shape{8, 3}));
  EXPECT_EQ(separate.v_proj_weight.shape(), (Shape{8, 5}));
  o.bias = false;
  EXPECT_EQ(MultiheadAttention(o).named_parameters().size(), 4u);  // q, k, v, out_proj.weight
}

TEST(MultiheadAttention, CrossAttentionMatchesTheDefinition) {
  for (int64_t kv_heads : {0, 2, 1}) {
    MultiheadAttention m(small_options(kv_heads));
    randomise(m, 10);
    Tensor q = seeded_randn({2, 3, 8}, kFloat64, 1), k = seeded_randn({2, 5, 8}, kFloat64, 2),
           v = seeded_randn({2, 5, 8}, kFloat64, 3);
    AttentionResult got = m(q, k, v);
    Reference want = reference(m, q, k, v, Tensor());
    expect_close(got.output, want.output, 1e-10, 1e-9);
    expect_close(got.weights, want.weights, 1e-12, 1e-9);
    AttentionResult fused = m(q, k, v, {.need_weights = false});
    EXPECT_FALSE(fused.weights.defined());
    expect_close(fused.output, want.output, 1e-10, 1e-9);
  }
}

TEST(MultiheadAttention, SequenceFirstAndUnbatchedLayouts) {
  MultiheadAttention first(small_options(0, true));
  MultiheadAttention seq(small_options(0, false));
  randomise(first, 20);
  seq.load_state_dict(first.state_dict());
  Tensor q = seeded_randn({2, 3, 8}, kFloat64, 4), k = seeded_randn({2, 4, 8}, kFloat64, 5);
  Tensor want = first(q, k, k).output;
  Tensor got = seq(q.transpose(0, 1), k.transpose(0, 1), k.transpose(0, 1)).output;
  EXPECT_EQ(got.shape(), (Shape{3, 2, 8}));
  expect_close(got.transpose(0, 1), want, 1e-12, 1e-10);
  AttentionResult single = first(q.select(0, 1), k.select(0, 1), k.select(0, 1));
  expect_close(single.output, want.select(0, 1), 1e-12, 1e-10);
  EXPECT_EQ(single.weights.shape(), (Shape{3, 4}));
}

TEST(MultiheadAttention, MasksFollowPyTorchConventions) {
  MultiheadAttention m(small_options());
  randomise(m, 30);
  Tensor x = seeded_randn({2, 4, 8}, kFloat64, 6);
  // attn_mask: true = not allowed; the float form adds -inf.
  Tensor blocked =
      ne(tensor<int64_t>({0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1}, Shape{4, 4}),
         zeros({}, kInt64));
  Tensor allowed = logical_not(blocked).unsqueeze(0).expand({2, 4, 4});
  Reference want = reference(m, x, x, x, allowed);
  AttentionResult by_bool = m(x, x, x, {.attn_mask = blocked});
  expect_close(by_bool.output, want.output, 1e-10, 1e-9);
  expect_close(by_bool.weights, want.weights, 1e-12, 1e-9);
  Tensor additive = masked_fill(zeros({4, 4}, kFloat64), blocked, -INFINITY);
  expect_close(m(x, x, x, {.need_weights = false, .attn_mask = additive}).output, want.output,
               1e-10, 1e-9);
  // key_padding_mask [B, Tk]: true = ignore that key; merged with attn_mask.
  Tensor padding = ne(tensor<int64_t>({0, 0, 0, 1, 0, 1, 0, 0}, Shape{2, 4}), zeros({}, kInt64));
  Tensor both = logical_and(allowed, logical_not(padding).unsqueeze(1).expand({2, 4, 4}));
  Reference want2 = reference(m, x, x, x, both);
  expect_close(m(x, x, x, {.key_padding_mask = padding, .attn_mask = blocked}).output, want2.output,
               1e-10, 1e-9);
  expect_close(m(x, x, x, {.key_padding_mask = padding, .need_weights = false}).output,
               reference(m, x, x, x, logical_not(padding).unsqueeze(1).expand({2, 4, 4})).output,
               1e-10, 1e-9);
  // is_causal alone, and with a padding mask.
  Tensor causal = ne(tensor<int64_t>({1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1}, Shape{4, 4}),
                     zeros({}, kInt64));
  Tensor causal_b = causal.unsqueeze(0).expand({2, 4, 4});
  expect_close(m(x, x, x, {.need_weights = false, .is_causal = true}).output,
               reference(m, x, x, x, causal_b).output, 1e-10, 1e-9);
  expect_close(m(x, x, x, {.key_padding_mask = padding, .is_causal = true}).output,
               reference(m, x, x, x,
                         logical_and(causal_b, logical_not(padding).unsqueeze(1).expand({2, 4, 4})))
                   .output,
               1e-10, 1e-9);
  // Per-head masks [B * H, Tq, Tk].
  Tensor per_head = blocked.unsqueeze(0).expand({8, 4, 4}).contiguous();
  expect_close(m(x, x, x, {.attn_mask = per_head}).output, want.output, 1e-10, 1e-9);
}

TEST(MultiheadAttention, GradientsMatchFiniteDifferences) {
  MultiheadAttention m(small_options(2));
  randomise(m, 40);
  Tensor x = mixgrad::testing::grad_input({2, 3, 8}, 7);
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return m(in[0], in[0], in[0], {.need_weights = false, .is_causal = true}).output;
      },
      std::vector<Tensor>{x});
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return m(in[0], in[0], in[0]).output; },
                   std::vector<Tensor>{x});
  // Every parameter gets a gradient.
  Tensor loss = m(x, x, x, {.need_weights = false}).output.square().sum();
  loss.backward();
  for (const auto& [name, p] : m.named_parameters()) EXPECT_TRUE(p.grad().defined()) << name;
}

TEST(MultiheadAttention, CachedSelfAttentionEqualsTheFullSequence) {
  for (int64_t kv_heads : {0, 2}) {
    MultiheadAttentionOptions o = small_options(kv_heads);
    o.rotary_dim = 2;
    MultiheadAttention m(o);
    randomise(m, 50);
    m.eval();
    NoGradGuard no_grad;
    Tensor x = seeded_randn({2, 7, 8}, kFloat64, 8);
    Tensor full = m.self_attention(x, true);
    // A prefill of 3, then one position, then a chunk of 3 (causal inside the chunk too).
    KVCache cache(7);
    Tensor a = m.self_attention(x.narrow(1, 0, 3), true, &cache);
    Tensor b = m.self_attention(x.narrow(1, 3, 1), true, &cache);
    Tensor c = m.self_attention(x.narrow(1, 4, 3), true, &cache);
    EXPECT_EQ(cache.length, 7);
    expect_close(cat({a, b, c}, 1), full, 1e-10, 1e-9);
    EXPECT_MG_ERROR(m.self_attention(x.narrow(1, 0, 1), true, &cache), "do not fit");
    // A cleared cache takes another batch size; a filled one refuses it.
    cache.clear();
    expect_close(m.self_attention(x.narrow(0, 0, 1).narrow(1, 0, 3), true, &cache),
                 full.narrow(0, 0, 1).narrow(1, 0, 3), 1e-10, 1e-9);
    EXPECT_MG_ERROR(m.self_attention(x.narrow(0, 0, 2).narrow(1, 0, 1), true, &cache),
                    "does not fit");
  }
}

TEST(MultiheadAttention, RejectsBadOptionsAndInputs) {
  auto with = [](auto change) {
    MultiheadAttentionOptions o = small_options();
    change(o);
    return o;
  };
  EXPECT_MG_ERROR(MultiheadAttention(with([](auto& o) { o.num_heads = 3; })), "divisible");
  EXPECT_MG_ERROR(MultiheadAttention(with([](auto& o) { o.num_kv_heads = 3; })), "divisible");
  EXPECT_MG_ERROR(MultiheadAttention(with([](auto& o) { o.embed_dim = 0; })), "positive");
  EXPECT_MG_ERROR(MultiheadAttention(with([](auto& o) { o.dropout = 1.0; })), "dropout");
  EXPECT_MG_ERROR(MultiheadAttention(with([](auto& o) { o.rotary_dim = 3; })), "rotary_dim");
  MultiheadAttention m(small_options());
  Tensor x = zeros({2, 3, 8}, kFloat64);
  EXPECT_MG_ERROR(m(x, zeros({2, 3, 7}, kFloat64), x), "do not fit");
  EXPECT_MG_ERROR(m(x, x, zeros({3, 3, 8}, kFloat64)), "do not fit");
  EXPECT_MG_ERROR(m(x, x, zeros({3, 8}, kFloat64)), "all 3-D");
  EXPECT_MG_ERROR(m(x, x, x, {.attn_mask = zeros({3, 4}, kBool)}), "attn_mask");
  EXPECT_MG_ERROR(m(x, x, x, {.key_padding_mask = zeros({2, 4}, kBool)}), "key_padding_mask");
  EXPECT_MG_ERROR(m.self_attention(zeros({2, 3, 5}, kFloat64), true), "self_attention");
  KVCache cache(4);
  Tensor xg = x.clone().requires_grad_();
  EXPECT_MG_ERROR(m.self_attention(xg, true, &cache), "NoGradGuard");
}

TEST(RMSNorm, MatchesTheFormulaAndTrainsItsWeight) {
  RMSNorm norm(6, 1e-5, true, kFloat64);
  EXPECT_EQ(norm.weight.shape(), (Shape{6}));
  {
    NoGradGuard no_grad;
    norm.weight.copy_(seeded_randn({6}, kFloat64, 3));
  }
  Tensor x = seeded_randn({2, 3, 6}, kFloat64, 9);
  Tensor want = x * rsqrt(mean(x.square(), Shape{-1}, true) + 1e-5) * norm.weight;
  expect_close(norm(x), want, 1e-12, 1e-10);
  norm(x).sum().backward();
  EXPECT_TRUE(norm.weight.grad().defined());
  RMSNorm plain(6, 1e-6, false);
  EXPECT_EQ(plain.named_parameters().size(), 0u);
  EXPECT_MG_ERROR(norm(zeros({2, 5}, kFloat64)), "RMSNorm");
  EXPECT_MG_ERROR(RMSNorm(0), "positive");
  EXPECT_MG_ERROR(RMSNorm(4, -1.0), "eps");
}

TEST(RotaryEmbedding, OffsetsContinueTheSequence) {
  RotaryEmbedding rope(4, 16, 10000.0, RotaryLayout::HalfSplit, kFloat64);
  EXPECT_EQ(rope.cos.shape(), (Shape{16, 2}));
  EXPECT_EQ(rope.named_buffers().size(), 2u);
  EXPECT_TRUE(rope.state_dict().empty());  // derived from the options, not saved
  Tensor x = seeded_randn({2, 3, 10, 6}, kFloat64, 11);
  Tensor whole = rope(x);
  expect_close(rope(x.narrow(2, 4, 6), 4), whole.narrow(2, 4, 6), 1e-12, 1e-12);
  // Position 0 is the identity; the last 2 of 6 features are not rotated.
  expect_close(whole.narrow(2, 0, 1), x.narrow(2, 0, 1), 1e-15, 0);
  expect_close(whole.narrow(3, 4, 2), x.narrow(3, 4, 2), 1e-15, 0);
  // Angle of pair i at position t: t * base^(-2i/dim).
  EXPECT_NEAR(rope.cos.select(0, 3).select(0, 1).item<double>(), std::cos(3 * 0.01), 1e-15);
  EXPECT_MG_ERROR(rope(x, 7), "max_positions");
  EXPECT_MG_ERROR(rope(zeros({2, 3}, kFloat64)), "D >= 4");
  EXPECT_MG_ERROR(RotaryEmbedding(3), "even");
  EXPECT_MG_ERROR(RotaryEmbedding(4, 0), "max_positions");
}

}  // namespace
}  // namespace mixgrad::nn
