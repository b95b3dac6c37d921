#include <cmath>

#include "common/test_util.h"

namespace mg = mixgrad;
using mg::Tensor;
using Inputs = std::vector<Tensor>;
using mg::testing::expect_close;
using mg::testing::expect_values;
using mg::testing::grad_input;

TEST(Linear, ValuesWithAndWithoutBias) {
  auto x = mg::tensor({{1.0, 2.0}, {3.0, 4.0}});
  auto w = mg::tensor({{1.0, 0.0}, {0.0, 1.0}, {1.0, 1.0}});  // [out=3, in=2]
  auto b = mg::tensor({0.5, -0.5, 0.0});
  expect_values(mg::linear(x, w, b), {2, 3}, {1.5, 1.5, 3, 3.5, 3.5, 7});
  expect_values(mg::linear(x, w), {2, 3}, {1, 2, 3, 3, 4, 7});
  // Leading batch dims are folded into one GEMM.
  auto x3 = x.unsqueeze(0).expand({2, 2, 2});
  expect_values(mg::linear(x3, w, b), {2, 2, 3},
                {1.5, 1.5, 3, 3.5, 3.5, 7, 1.5, 1.5, 3, 3.5, 3.5, 7});
}

TEST(Linear, ErrorsAndGradcheck) {
  EXPECT_MG_ERROR(mg::linear(mg::zeros({2, 3}), mg::zeros({4, 2})), "does not match weight");
  EXPECT_MG_ERROR(mg::linear(mg::zeros({2, 3}), mg::zeros({3})), "weight must be [out, in]");
  EXPECT_MG_ERROR(mg::linear(mg::zeros({2, 3}), mg::zeros({4, 3}), mg::zeros({3})),
                  "bias of shape [3]");
  auto x = grad_input({2, 3, 4}, 1), w = grad_input({5, 4}, 2), b = grad_input({5}, 3);
  EXPECT_GRADCHECK([](const Inputs& in) { return mg::linear(in[0], in[1], in[2]); },
                   Inputs({x, w, b}));
}

TEST(Embedding, LooksUpRowsAndAccumulatesRepeatedGradients) {
  auto w = mg::tensor({{0.0, 1.0}, {2.0, 3.0}, {4.0, 5.0}}).requires_grad_();
  auto idx = mg::tensor({{2, 0}, {2, 2}});
  auto out = mg::embedding(w, idx);
  expect_values(out, {2, 2, 2}, {4, 5, 0, 1, 4, 5, 4, 5});
  out.sum().backward();
  expect_values(w.grad(), {3, 2}, {1, 1, 0, 0, 3, 3});
  EXPECT_MG_ERROR(mg::embedding(w, mg::tensor({3})), "out of bounds");
  EXPECT_MG_ERROR(mg::embedding(w, mg::tensor({1.0})), "indices must be int64 or int32");
  auto wg = grad_input({4, 3});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::embedding(in[0], mg::tensor({1, 3, 1}));
      },
      Inputs{wg});
}

TEST(LayerNorm, NormalisesTrailingDims) {
  auto x = mg::tensor({{1.0, 2.0, 3.0, 4.0}, {2.0, 2.0, 2.0, 2.0}});
  auto y = mg::layer_norm(x, {4}, Tensor(), Tensor(), 0.0);
  const double s = std::sqrt(1.25);  // biased std of 1..4
  expect_values(y.select(0, 0), {4}, {-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s}, 1e-12);
  auto y2 = mg::layer_norm(x, {4}, mg::full({4}, 2.0, mg::kFloat64), mg::ones({4}, mg::kFloat64));
  expect_values(y2.select(0, 1), {4}, {1, 1, 1, 1}, 1e-12);  // constant row -> bias
  EXPECT_MG_ERROR(mg::layer_norm(x, {3}), "does not end in normalized_shape");
  EXPECT_MG_ERROR(mg::layer_norm(x, {4}, mg::ones({3})), "must equal normalized_shape");
  auto xi = grad_input({3, 2, 4}, 4), wi = grad_input({2, 4}, 5), bi = grad_input({2, 4}, 6);
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::layer_norm(in[0], {2, 4}, in[1], in[2]);
      },
      Inputs({xi, wi, bi}));
}

TEST(Dropout, TrainingMasksAndScalesEvalIsIdentity) {
  auto x = mg::ones({10000}, mg::kFloat64);
  mg::Generator gen(1);
  auto y = mg::dropout(x, 0.3, true, &gen);
  auto v = y.to_vector<double>();
  int64_t zeros = 0;
  for (double e : v) {
    if (e == 0)
      ++zeros;
    else
      EXPECT_DOUBLE_EQ(e, 1.0 / 0.7);
  }
  EXPECT_NEAR(zeros / 10000.0, 0.3, 0.02);
  EXPECT_TRUE(mg::dropout(x, 0.3, false).is_same(x));
  expect_values(mg::dropout(mg::ones({3}), 1.0, true), {3}, {0, 0, 0});
  EXPECT_MG_ERROR(mg::dropout(x, 1.5), "probability must be in [0, 1]");
  // Same generator state, same mask; the gradient uses that mask.
  mg::Generator g1(9), g2(9);
  auto xg = grad_input({50}, 7);
  auto mask_out = mg::dropout(mg::ones({50}, mg::kFloat64), 0.5, true, &g1);
  mg::dropout(xg, 0.5, true, &g2).sum().backward();
  expect_close(xg.grad(), mask_out);
}

TEST(CrossEntropy, MatchesHandComputedValues) {
  auto logits = mg::tensor({{1.0, 2.0, 3.0}, {1.0, 1.0, 1.0}});
  auto target = mg::tensor({2, 0});
  const double lse0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  const double l0 = lse0 - 3.0, l1 = std::log(3.0);
  expect_values(mg::cross_entropy(logits, target, mg::Reduction::None), {2}, {l0, l1}, 1e-12);
  expect_values(mg::cross_entropy(logits, target), {}, {(l0 + l1) / 2}, 1e-12);
  expect_values(mg::cross_entropy(logits, target, mg::Reduction::Sum), {}, {l0 + l1}, 1e-12);
  // ignore_index drops the sample from the mean.
  expect_values(mg::cross_entropy(logits, mg::tensor({2, -100})), {}, {l0}, 1e-12);
  // Label smoothing eps: (1-eps)*nll + eps*mean_c(-log p_c).
  const double eps = 0.1;
  const double smooth0 = (1 - eps) * l0 + eps * (lse0 * 3 - 6.0) / 3;
  expect_values(mg::cross_entropy(logits, target, mg::Reduction::None, eps).select(0, 0), {},
                {smooth0}, 1e-12);
}

TEST(CrossEntropy, SpatialInputsErrorsAndGradcheck) {
  // [N, C, L] logits equal the flattened [N*L, C] computation.
  auto logits = mg::randn({2, 3, 4}, mg::kFloat64);
  auto target = mg::randint(0, 3, {2, 4});
  auto flat = mg::cross_entropy(logits.permute({0, 2, 1}).reshape({8, 3}), target.reshape({8}),
                                mg::Reduction::None);
  expect_close(mg::cross_entropy(logits, target, mg::Reduction::None), flat.view({2, 4}));
  EXPECT_MG_ERROR(mg::cross_entropy(mg::zeros({2, 3}), mg::tensor({0, 3})), "invalid class index");
  EXPECT_MG_ERROR(mg::cross_entropy(mg::zeros({2, 3}), mg::tensor({0.0, 1.0})),
                  "class indices are int64 or int32");
  EXPECT_MG_ERROR(mg::cross_entropy(mg::zeros({2, 3}), mg::tensor({0, 1, 2})),
                  "does not match input");
  auto x = grad_input({4, 5}, 8);
  auto t = mg::tensor({1, 0, 4, -100});
  EXPECT_GRADCHECK([&](const Inputs& in) { return mg::cross_entropy(in[0], t); }, Inputs{x});
  EXPECT_GRADCHECK(
      [&](const Inputs& in) { return mg::cross_entropy(in[0], t, mg::Reduction::Sum, 0.2); },
      Inputs{x});
}

TEST(NllLoss, ValuesAndGradcheck) {
  auto logp = mg::tensor({{-1.0, -2.0}, {-0.5, -3.0}});
  expect_values(mg::nll_loss(logp, mg::tensor({1, 0})), {}, {1.25});
  expect_values(mg::nll_loss(logp, mg::tensor({1, 0}), mg::Reduction::None), {2}, {2, 0.5});
  EXPECT_MG_ERROR(mg::nll_loss(logp, mg::tensor({2, 0})), "invalid class index");
  auto x = grad_input({3, 4}, 9);
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::nll_loss(in[0], mg::tensor({3, 0, 1}));
      },
      Inputs{x});
}

TEST(MseLoss, ValuesErrorsAndGradcheck) {
  auto a = mg::tensor({1.0, 2.0, 4.0}), b = mg::tensor({1.0, 0.0, 1.0});
  expect_values(mg::mse_loss(a, b), {}, {13.0 / 3});
  expect_values(mg::mse_loss(a, b, mg::Reduction::Sum), {}, {13});
  expect_values(mg::mse_loss(a, b, mg::Reduction::None), {3}, {0, 4, 9});
  EXPECT_MG_ERROR(mg::mse_loss(a, mg::zeros({2})), "differ");
  auto x = grad_input({2, 3}, 10), y = grad_input({2, 3}, 11);
  EXPECT_GRADCHECK([](const Inputs& in) { return mg::mse_loss(in[0], in[1]); }, Inputs({x, y}));
}
