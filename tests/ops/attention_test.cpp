// scaled_dot_product_attention: the fused CPU path against the composite reference and a plain
// loop over the definition (causal, bool and float masks of broadcast shapes, grouped-query heads,
// sizes that straddle the tiles), fully masked rows, gradients (finite differences in float64),
// dropout, the errors, and the fused path's memory against the reference's.
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "common/test_util.h"

namespace mixgrad {
namespace {

using testing::expect_close;

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Config {
  int64_t b = 1, h = 1, hkv = 1, tq = 1, tk = 1, d = 1, dv = 1;
};

struct Inputs {
  Tensor q, k, v;
};

AttentionOptions causal_options(std::optional<double> scale = std::nullopt) {
  AttentionOptions options;
  options.causal = true;
  options.scale = scale;
  return options;
}

AttentionOptions mask_options(const Tensor& mask, bool causal = false) {
  AttentionOptions options;
  options.mask = mask;
  options.causal = causal;
  return options;
}

AttentionOptions dropout_options(double p, Generator* gen = nullptr, bool causal = false) {
  AttentionOptions options;
  options.dropout = p;
  options.generator = gen;
  options.causal = causal;
  return options;
}

Inputs make_inputs(const Config& c, DType dtype, uint64_t seed, bool requires_grad = false) {
  Generator gen(seed);
  Inputs in{randn({c.b, c.h, c.tq, c.d}, dtype, &gen), randn({c.b, c.hkv, c.tk, c.d}, dtype, &gen),
            randn({c.b, c.hkv, c.tk, c.dv}, dtype, &gen)};
  if (requires_grad) {
    in.q.requires_grad_();
    in.k.requires_grad_();
    in.v.requires_grad_();
  }
  return in;
}

// softmax(q k^T * scale + mask) v straight from the definition, in double: query head h reads
// key/value head h / (H / Hkv); blocked keys (causal, false or -inf in the mask) weigh nothing
// and a row with no visible key is 0.
Tensor loop_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                      const AttentionOptions& options = {}) {
  const int64_t B = q.size(0), H = q.size(1), Hkv = k.size(1), Tq = q.size(2), Tk = k.size(2),
                D = q.size(3), Dv = v.size(3);
  const double scale = options.scale.value_or(1.0 / std::sqrt(static_cast<double>(D)));
  const std::vector<double> qs = q.to_vector<double>(), ks = k.to_vector<double>(),
                            vs = v.to_vector<double>();
  std::vector<double> mask;
  const bool bool_mask = options.mask.defined() && options.mask.dtype() == DType::Bool;
  if (options.mask.defined()) mask = options.mask.expand({B, H, Tq, Tk}).to_vector<double>();
  std::vector<double> out(B * H * Tq * Dv, 0.0), w(Tk);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t kv = b * Hkv + h / (H / Hkv);
      for (int64_t i = 0; i < Tq; ++i) {
        double mx = -kInf;
        for (int64_t j = 0; j < Tk; ++j) {
          double s = 0;
          for (int64_t c = 0; c < D; ++c)
            s += qs[((b * H + h) * Tq + i) * D + c] * ks[(kv * Tk + j) * D + c];
          s *= scale;
          const double m = mask.empty() ? 0.0 : mask[((b * H + h) * Tq + i) * Tk + j];
          if (bool_mask)
            s = m != 0 ? s : -kInf;
          else
            s += m;
          if (options.causal && j > i) s = -kInf;
          w[j] = s;
          mx = std::max(mx, s);
        }
        if (mx == -kInf) continue;
        double sum = 0;
        for (int64_t j = 0; j < Tk; ++j) sum += w[j] = std::exp(w[j] - mx);
        for (int64_t j = 0; j < Tk; ++j)
          for (int64_t c = 0; c < Dv; ++c)
            out[((b * H + h) * Tq + i) * Dv + c] += w[j] / sum * vs[(kv * Tk + j) * Dv + c];
      }
    }
  return tensor(out, Shape{B, H, Tq, Dv}, kFloat64);
}

// The fused path, the reference path and the loop agree on the values.
void expect_paths_agree(const Config& c, const AttentionOptions& options, DType dtype,
                        uint64_t seed = 1) {
  SCOPED_TRACE(::testing::Message()
               << "B " << c.b << " H " << c.h << " Hkv " << c.hkv << " Tq " << c.tq << " Tk "
               << c.tk << " D " << c.d << " Dv " << c.dv << " causal " << options.causal << " mask "
               << (options.mask.defined() ? describe(options.mask) : "none"));
  const Inputs in = make_inputs(c, dtype, seed);
  const Tensor fused = scaled_dot_product_attention(in.q, in.k, in.v, options);
  const Tensor ref = scaled_dot_product_attention_reference(in.q, in.k, in.v, options);
  const Tensor loop = loop_attention(in.q, in.k, in.v, options);
  EXPECT_EQ(fused.dtype(), dtype);
  const double tol = dtype == kFloat32 ? 2e-5 : 1e-12;
  expect_close(fused, loop, tol, tol);
  expect_close(ref, loop, tol, tol);
}

// Gradients of sum(out * w) through the fused path and through the reference path agree.
void expect_grads_agree(const Config& c, const AttentionOptions& options, DType dtype,
                        uint64_t seed = 2) {
  SCOPED_TRACE(::testing::Message() << "Tq " << c.tq << " Tk " << c.tk << " H " << c.h << " Hkv "
                                    << c.hkv << " causal " << options.causal);
  std::vector<Tensor> grads[2];
  for (int path = 0; path < 2; ++path) {
    const Inputs in = make_inputs(c, dtype, seed, true);
    const Tensor out = path == 0
                           ? scaled_dot_product_attention(in.q, in.k, in.v, options)
                           : scaled_dot_product_attention_reference(in.q, in.k, in.v, options);
    Generator gen(seed + 7);
    (out * randn(out.shape(), dtype, &gen)).sum().backward();
    grads[path] = {in.q.grad(), in.k.grad(), in.v.grad()};
  }
  const double tol = dtype == kFloat32 ? 1e-4 : 1e-11;
  for (int i = 0; i < 3; ++i) expect_close(grads[0][i], grads[1][i], tol, tol);
}

void expect_fused_gradcheck(const Config& c, const AttentionOptions& options, uint64_t seed = 3) {
  const Inputs in = make_inputs(c, kFloat64, seed, true);
  auto fn = [options](const std::vector<Tensor>& x) {
    return scaled_dot_product_attention(x[0], x[1], x[2], options);
  };
  EXPECT_GRADCHECK(fn, (std::vector<Tensor>{in.q, in.k, in.v}));
}

// ---------------------------------------------------------------- values

TEST(Attention, SizesAcrossTheTiles) {
  for (int64_t t : {1, 7, 65, 130}) {
    expect_paths_agree(Config{1, 1, 1, t, t, 8, 8}, {}, kFloat32);
    expect_paths_agree(Config{1, 1, 1, t, t, 8, 8}, causal_options(), kFloat32);
  }
}

TEST(Attention, UnequalLengthsAndValueWidth) {
  for (bool causal : {false, true}) {
    AttentionOptions options;
    options.causal = causal;
    expect_paths_agree(Config{2, 2, 2, 7, 130, 5, 3}, options, kFloat32);
    expect_paths_agree(Config{1, 2, 2, 130, 9, 4, 11}, options, kFloat32);
    expect_paths_agree(Config{2, 1, 1, 65, 200, 16, 16}, options, kFloat64);
  }
}

TEST(Attention, GroupedQueryHeads) {
  for (int64_t hkv : {4, 2, 1}) {
    const Config c{2, 4, hkv, 70, 66, 8, 6};
    expect_paths_agree(c, {}, kFloat32);
    expect_paths_agree(c, causal_options(), kFloat32);
    expect_grads_agree(c, causal_options(), kFloat64);
  }
}

TEST(Attention, CustomScale) {
  AttentionOptions options;
  options.scale = 0.7;
  expect_paths_agree(Config{1, 2, 1, 9, 12, 4, 4}, options, kFloat64);
}

TEST(Attention, BoolMaskShapes) {
  const Config c{2, 2, 1, 67, 131, 8, 8};
  for (const Shape& shape : {Shape{c.tk}, Shape{c.b, 1, 1, c.tk}, Shape{c.tq, c.tk},
                             Shape{c.b, c.h, c.tq, c.tk}, Shape{c.h, 1, 1}}) {
    Generator gen(11);
    AttentionOptions options;
    options.mask = rand(shape, kFloat32, &gen) > 0.3;
    expect_paths_agree(c, options, kFloat32);
  }
}

TEST(Attention, FloatMaskShapes) {
  const Config c{2, 2, 2, 67, 131, 8, 8};
  for (const Shape& shape :
       {Shape{c.tk}, Shape{c.b, 1, 1, c.tk}, Shape{c.tq, c.tk}, Shape{c.b, c.h, c.tq, c.tk}}) {
    Generator gen(12);
    AttentionOptions options;
    // Some -inf entries as well as finite biases.
    const Tensor bias = randn(shape, kFloat32, &gen);
    options.mask = where(rand(shape, kFloat32, &gen) > 0.2, bias, -kInf);
    expect_paths_agree(c, options, kFloat32);
    expect_grads_agree(c, options, kFloat32);
  }
}

TEST(Attention, NonContiguousInputs) {
  // [B, T, H, D] activations viewed as [B, H, T, D], as a projection produces them.
  Generator gen(4);
  const Tensor q = randn({2, 70, 4, 8}, kFloat32, &gen).transpose(1, 2);
  const Tensor k = randn({2, 70, 2, 8}, kFloat32, &gen).transpose(1, 2);
  const Tensor v = randn({2, 70, 2, 8}, kFloat32, &gen).transpose(1, 2);
  AttentionOptions options;
  options.causal = true;
  expect_close(scaled_dot_product_attention(q, k, v, options), loop_attention(q, k, v, options),
               2e-5, 2e-5);
}

TEST(Attention, CausalGradientsAgreeWithReference) {
  expect_grads_agree(Config{1, 2, 2, 130, 130, 8, 8}, causal_options(), kFloat32);
  expect_grads_agree(Config{1, 2, 1, 70, 150, 8, 5}, causal_options(), kFloat32);
  expect_grads_agree(Config{1, 2, 1, 150, 70, 8, 5}, causal_options(), kFloat32);
}

TEST(Attention, TakesTheFusedPathUnlessDropoutOrMaskGradient) {
  const Inputs in = make_inputs(Config{1, 2, 1, 5, 6, 4, 4}, kFloat64, 21, true);
  auto node_name = [](const Tensor& out) { return out.grad_fn()->name(); };
  const std::string fused = "scaled_dot_product_attention";
  EXPECT_EQ(node_name(scaled_dot_product_attention(in.q, in.k, in.v)), fused);
  EXPECT_EQ(node_name(scaled_dot_product_attention(in.q, in.k, in.v,
                                                   mask_options(ones({5, 6}, kFloat64)))),
            fused);
  Generator gen(1);
  EXPECT_NE(node_name(scaled_dot_product_attention(in.q, in.k, in.v, dropout_options(0.5, &gen))),
            fused);
  const Tensor mask = zeros({5, 6}, kFloat64).requires_grad_();
  EXPECT_NE(node_name(scaled_dot_product_attention(in.q, in.k, in.v, mask_options(mask))), fused);
}

TEST(Attention, Probabilities) {
  const Config c{2, 4, 2, 6, 5, 3, 2};
  const Inputs in = make_inputs(c, kFloat64, 23);
  std::vector<bool> allowed(6 * 5, true);
  for (int64_t j = 0; j < 5; ++j) allowed[1 * 5 + j] = false;  // query 1 sees nothing
  const AttentionOptions options = mask_options(tensor(allowed, Shape{6, 5}));
  const Tensor probs = attention_probabilities(in.q, in.k, options);
  EXPECT_EQ(probs.shape(), (Shape{2, 4, 6, 5}));
  const std::vector<double> row_sums = probs.sum({-1}).to_vector<double>();
  for (size_t i = 0; i < row_sums.size(); ++i)
    EXPECT_NEAR(row_sums[i], i % 6 == 1 ? 0.0 : 1.0, 1e-12) << "row " << i;
  // Key/value head h / 2 for query head h.
  const Tensor v = in.v.unsqueeze(2).expand({2, 2, 2, 5, 2}).reshape({2, 4, 5, 2});
  expect_close(matmul(probs, v), loop_attention(in.q, in.k, in.v, options), 1e-12, 1e-12);
  EXPECT_MG_ERROR(attention_probabilities(in.q, randn({2, 3, 5, 3}, kFloat64)),
                  "attention_probabilities");
}

// ---------------------------------------------------------------- fully masked rows

void expect_masked_row_is_zero(bool fused, const Tensor& mask, int64_t row) {
  SCOPED_TRACE(fused ? "fused" : "reference");
  const Config c{1, 2, 1, 6, 5, 4, 3};
  const Inputs in = make_inputs(c, kFloat64, 5, true);
  AttentionOptions options;
  options.mask = mask;
  const Tensor out = fused ? scaled_dot_product_attention(in.q, in.k, in.v, options)
                           : scaled_dot_product_attention_reference(in.q, in.k, in.v, options);
  expect_close(out, loop_attention(in.q, in.k, in.v, options), 1e-12, 1e-12);
  const std::vector<double> o = out.to_vector<double>();
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t col = 0; col < 3; ++col) EXPECT_EQ(o[(h * 6 + row) * 3 + col], 0.0);
  out.square().sum().backward();
  for (const Tensor& g : {in.q.grad(), in.k.grad(), in.v.grad()}) {
    for (double x : g.to_vector<double>()) ASSERT_TRUE(std::isfinite(x));
  }
  const std::vector<double> dq = in.q.grad().to_vector<double>();
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t col = 0; col < 4; ++col) EXPECT_EQ(dq[(h * 6 + row) * 4 + col], 0.0);
}

TEST(Attention, FullyMaskedRowsGiveZeroAndNoNaN) {
  std::vector<bool> allowed(6 * 5, true);
  for (int64_t j = 0; j < 5; ++j) allowed[2 * 5 + j] = false;  // row 2 sees nothing
  allowed[4 * 5 + 1] = false;
  const Tensor bool_mask = tensor(allowed, Shape{6, 5});
  const Tensor float_mask = where(bool_mask, zeros({6, 5}, kFloat64), -kInf);  // the inputs' dtype
  for (bool fused : {true, false}) {
    expect_masked_row_is_zero(fused, bool_mask, 2);
    expect_masked_row_is_zero(fused, float_mask, 2);
  }
}

TEST(Attention, NaNReachesTheOutput) {
  const Config c{1, 1, 1, 70, 140, 4, 3};
  for (bool fused : {true, false}) {
    SCOPED_TRACE(fused ? "fused" : "reference");
    const Inputs in = make_inputs(c, kFloat32, 22);
    Tensor q = in.q.clone(), k = in.k.clone();
    q.narrow(2, 5, 1).fill_(std::nan(""));    // query 5: every score NaN
    k.narrow(2, 130, 1).fill_(std::nan(""));  // key 130: one NaN score in every row
    const Tensor out = fused ? scaled_dot_product_attention(q, k, in.v)
                             : scaled_dot_product_attention_reference(q, k, in.v);
    for (double x : out.to_vector<double>()) EXPECT_TRUE(std::isnan(x));
    // Causal: queries before 130 never see the NaN key.
    const Tensor causal =
        fused ? scaled_dot_product_attention(q, k, in.v, causal_options())
              : scaled_dot_product_attention_reference(q, k, in.v, causal_options());
    const std::vector<double> o = causal.to_vector<double>();
    for (int64_t i = 0; i < c.tq; ++i) EXPECT_EQ(std::isnan(o[i * c.dv]), i == 5) << "query " << i;
  }
}

TEST(Attention, NoKeysGivesZeros) {
  const Inputs in = make_inputs(Config{1, 2, 2, 3, 0, 4, 5}, kFloat32, 6);
  const Tensor out = scaled_dot_product_attention(in.q, in.k, in.v);
  testing::expect_values(out, {1, 2, 3, 5}, std::vector<double>(30, 0.0));
}

// ---------------------------------------------------------------- gradcheck

TEST(Attention, GradcheckFused) {
  expect_fused_gradcheck(Config{1, 2, 1, 5, 7, 3, 4}, {});
  expect_fused_gradcheck(Config{2, 2, 2, 6, 4, 3, 2}, causal_options());
  expect_fused_gradcheck(Config{1, 4, 2, 4, 6, 2, 3}, causal_options(0.9));
}

TEST(Attention, GradcheckFusedAcrossTiles) {
  // Several query and key blocks, a bool mask with a fully masked row and a causal case.
  const Config c{1, 1, 1, 70, 131, 2, 2};
  Generator gen(13);
  Tensor allowed = rand({c.tq, c.tk}, kFloat64, &gen) > 0.25;
  allowed.narrow(0, 3, 1).fill_(false);
  expect_fused_gradcheck(c, mask_options(allowed));
  expect_fused_gradcheck(Config{1, 1, 1, 131, 70, 2, 1}, causal_options());
}

TEST(Attention, GradcheckFloatMask) {
  const Config c{1, 2, 1, 5, 6, 3, 2};
  Generator gen(14);
  const Tensor mask =
      where(rand({c.tq, c.tk}, kFloat64, &gen) > 0.2, randn({c.tq, c.tk}, kFloat64, &gen), -kInf);
  expect_fused_gradcheck(c, mask_options(mask));
}

TEST(Attention, GradcheckReferenceWithMaskGradient) {
  const Config c{2, 2, 1, 4, 5, 3, 2};
  const Inputs in = make_inputs(c, kFloat64, 15, true);
  const Tensor mask = testing::grad_input({c.tq, c.tk}, 16);
  for (auto* op : {&scaled_dot_product_attention, &scaled_dot_product_attention_reference}) {
    auto fn = [op](const std::vector<Tensor>& x) {
      AttentionOptions options;
      options.mask = x[3];
      return (*op)(x[0], x[1], x[2], options);
    };
    EXPECT_GRADCHECK(fn, (std::vector<Tensor>{in.q, in.k, in.v, mask}));
  }
}

// Output and gradients of sum(out^2) at 1, 2 and 3 threads, all elements in one vector.
std::vector<std::vector<float>> runs_per_thread_count(const Config& c,
                                                      const AttentionOptions& options) {
  const int saved = get_num_threads();
  std::vector<std::vector<float>> runs;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    const Inputs in = make_inputs(c, kFloat32, 17, true);
    const Tensor out = scaled_dot_product_attention(in.q, in.k, in.v, options);
    out.square().sum().backward();
    std::vector<float> all = out.to_vector<float>();
    for (const Tensor& g : {in.q.grad(), in.k.grad(), in.v.grad()}) {
      const std::vector<float> x = g.to_vector<float>();
      all.insert(all.end(), x.begin(), x.end());
    }
    runs.push_back(all);
  }
  set_num_threads(saved);
  return runs;
}

TEST(Attention, SameBitsForAnyThreadCount) {
  // One pass over (batch, key/value head) tasks at every thread count.
  auto runs = runs_per_thread_count(Config{2, 4, 2, 130, 130, 16, 16}, causal_options());
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_EQ(runs[0], runs[2]);
  // A single key/value head: the backward splits it into key-block and query-block tasks from
  // two threads on, which must add up in the same order as the one pass does.
  runs = runs_per_thread_count(Config{1, 2, 1, 400, 300, 16, 8}, causal_options());
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_EQ(runs[0], runs[2]);
  Generator gen(24);
  runs = runs_per_thread_count(Config{1, 1, 1, 150, 400, 8, 8},
                               mask_options(rand({150, 400}, kFloat32, &gen) > 0.5));
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_EQ(runs[0], runs[2]);
}

// ---------------------------------------------------------------- dropout

TEST(Attention, DropoutZeroIsNoDropout) {
  const Inputs in = make_inputs(Config{1, 2, 2, 9, 9, 4, 4}, kFloat32, 18);
  const Tensor plain = scaled_dot_product_attention(in.q, in.k, in.v, causal_options());
  const Tensor zero =
      scaled_dot_product_attention(in.q, in.k, in.v, dropout_options(0.0, nullptr, true));
  EXPECT_EQ(plain.to_vector<float>(), zero.to_vector<float>());
}

TEST(Attention, DropoutDropsScalesAndReproduces) {
  // With v = 1 every output is the row's sum of kept probabilities / (1 - p): 0 or 1 / (1 - p)
  // per key, 1 on average.
  const int64_t t = 64;
  Generator data(19);
  const Tensor q = randn({2, 4, t, 8}, kFloat64, &data), k = randn({2, 4, t, 8}, kFloat64, &data);
  const Tensor v = ones({2, 4, t, 1}, kFloat64);
  const double p = 0.25;
  Generator a(7), b(7);
  const Tensor out = scaled_dot_product_attention(q, k, v, dropout_options(p, &a));
  const Tensor again = scaled_dot_product_attention(q, k, v, dropout_options(p, &b));
  EXPECT_EQ(out.to_vector<double>(), again.to_vector<double>());
  const std::vector<double> o = out.to_vector<double>();
  double mean = 0;
  int64_t changed = 0;
  for (double x : o) {
    mean += x;
    changed += std::fabs(x - 1.0) > 1e-9;
  }
  mean /= static_cast<double>(o.size());
  // Each output averages 64 independent kept / (1 - p) weights (their variance is bounded by
  // p / (1 - p) * max prob); over 512 rows the mean is within a few hundredths of 1.
  EXPECT_NEAR(mean, 1.0, 0.05);
  EXPECT_GT(changed, static_cast<int64_t>(o.size()) / 2);
  // Dropout stays differentiable (through the reference path).
  const Tensor qg = q.detach().requires_grad_();
  scaled_dot_product_attention(qg, k, v, dropout_options(p, &a)).sum().backward();
  EXPECT_TRUE(qg.grad().defined());
}

// ---------------------------------------------------------------- errors

TEST(Attention, Errors) {
  const Tensor q = randn({1, 4, 3, 8}), k = randn({1, 2, 5, 8}), v = randn({1, 2, 5, 6});
  auto sdpa = [](const Tensor& a, const Tensor& b, const Tensor& c,
                 const AttentionOptions& o = {}) {
    return scaled_dot_product_attention(a, b, c, o);
  };
  EXPECT_MG_ERROR(sdpa(Tensor(), k, v), "q is undefined");
  EXPECT_MG_ERROR(sdpa(randn({4, 3, 8}), k, v), "expected q of rank 4");
  EXPECT_MG_ERROR(sdpa(q, randn({2, 5, 8}), v), "expected k of rank 4");
  EXPECT_MG_ERROR(sdpa(q, k, randn({1, 2, 5, 6, 1})), "expected v of rank 4");
  EXPECT_MG_ERROR(sdpa(q.to(kInt64), k.to(kInt64), v.to(kInt64)), "expected a floating q");
  EXPECT_MG_ERROR(sdpa(q, k.to(kFloat64), v), "one dtype");
  EXPECT_MG_ERROR(sdpa(q, randn({2, 2, 5, 8}), randn({2, 2, 5, 6})), "batch sizes differ");
  EXPECT_MG_ERROR(sdpa(q, k, randn({1, 2, 4, 6})), "same heads and length");
  EXPECT_MG_ERROR(sdpa(q, k, randn({1, 1, 5, 6})), "same heads and length");
  EXPECT_MG_ERROR(sdpa(q, randn({1, 2, 5, 7}), v), "same feature size");
  EXPECT_MG_ERROR(sdpa(q, randn({1, 3, 5, 8}), randn({1, 3, 5, 6})), "multiple of k and v's 3");
  EXPECT_MG_ERROR(sdpa(q, k, v, mask_options(ones({3, 5}, kBool), true)),
                  "causal and an explicit mask");
  EXPECT_MG_ERROR(sdpa(q, k, v, mask_options(ones({3, 5}, kInt64))),
                  "mask must be bool or q's dtype");
  EXPECT_MG_ERROR(sdpa(q, k, v, mask_options(ones({3, 5}, kFloat64))), "mask must be bool");
  EXPECT_MG_ERROR(sdpa(q, k, v, mask_options(ones({3, 4}, kBool))), "does not broadcast");
  EXPECT_MG_ERROR(sdpa(q, k, v, mask_options(ones({2, 1, 1, 5}, kBool))), "does not broadcast");
  EXPECT_MG_ERROR(sdpa(q, k, v, mask_options(ones({1, 1, 1, 3, 5}, kBool))), "does not broadcast");
  EXPECT_MG_ERROR(sdpa(q, k, v, dropout_options(-0.1)), "dropout must be in [0, 1)");
  EXPECT_MG_ERROR(sdpa(q, k, v, dropout_options(1.0)), "dropout must be in [0, 1)");
  EXPECT_MG_ERROR(scaled_dot_product_attention_reference(q, k, v, dropout_options(1.5)),
                  "scaled_dot_product_attention_reference");
}

// ---------------------------------------------------------------- memory

// Peak bytes handed out by the CPU allocator while `f` runs, above what was allocated before.
template <class F>
size_t peak_bytes(F&& f) {
  reset_peak_memory_stats();
  const size_t before = memory_stats().allocated;
  f();
  return memory_stats().peak_allocated - before;
}

TEST(Attention, FusedMemoryIsLinearInLength) {
  const Config c{1, 2, 2, 1024, 1024, 32, 32};
  const Inputs in = make_inputs(c, kFloat32, 20, true);
  auto step = [&](bool fused) {
    return peak_bytes([&] {
      const Tensor out =
          fused ? scaled_dot_product_attention(in.q, in.k, in.v, causal_options())
                : scaled_dot_product_attention_reference(in.q, in.k, in.v, causal_options());
      out.sum().backward();
    });
  };
  const size_t fused = step(true), reference = step(false);
  const size_t scores = c.b * c.h * c.tq * c.tk * sizeof(float);  // one [B, H, Tq, Tk] tensor
  EXPECT_GE(reference, scores);
  EXPECT_LT(fused * 8, reference) << "fused " << fused << " B, reference " << reference << " B";
  EXPECT_LT(fused, scores / 4);
}

}  // namespace
}  // namespace mixgrad
