// The user's acceptance check: a sparse MoE layer written only with generic ops.
#include "common/simple_moe.h"

#include "common/test_util.h"

namespace mg = mixgrad;

using mixgrad::testing::SimpleMoEExpert;
using mixgrad::testing::SimpleMoELayer;

TEST(SimpleMoE, ForwardShapeAndGradientsReachEveryExpert) {
  SimpleMoELayer moe(/*d=*/32, /*hidden=*/64, /*experts=*/8, /*k=*/2, mg::kFloat32, 1);
  mg::Generator gen(2);
  auto x = mg::randn({4, 16, 32}, {}, &gen);
  auto out = moe.forward(x);
  EXPECT_EQ(out.shape(), (mg::Shape{4, 16, 32}));
  out.sum().backward();
  ASSERT_TRUE(moe.gate.grad().defined());
  EXPECT_GT(mg::abs(moe.gate.grad()).sum().item<float>(), 0.f);
  for (const SimpleMoEExpert& e : moe.experts) {
    for (const mg::Tensor& p : {e.w1, e.b1, e.w2, e.b2}) {
      ASSERT_TRUE(p.grad().defined());
      EXPECT_EQ(p.grad().shape(), p.shape());
      EXPECT_GT(mg::abs(p.grad()).sum().item<float>(), 0.f);
    }
  }
}

TEST(SimpleMoE, MatchesDenseReferenceOnEveryToken) {
  // The sparse dispatch must equal sum_k gate_k * expert_k(x), computed token by token.
  SimpleMoELayer moe(8, 16, 4, 2, mg::kFloat64, 3);
  mg::Generator gen(4);
  auto x = mg::randn({5, 8}, mg::kFloat64, &gen);
  auto out = moe.forward(x);
  mg::NoGradGuard guard;
  auto probs = mg::softmax(mg::matmul(x, moe.gate), -1);
  for (int64_t t = 0; t < 5; ++t) {
    auto p = probs[t].to_vector<double>();
    std::vector<int64_t> order{0, 1, 2, 3};
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
    const double norm = p[order[0]] + p[order[1]];
    auto expected = mg::zeros({8}, mg::kFloat64);
    for (int s = 0; s < 2; ++s) {
      const SimpleMoEExpert& ex = moe.experts[order[s]];
      auto xt = x[t].unsqueeze(0);
      auto y = mg::matmul(mg::relu(mg::matmul(xt, ex.w1) + ex.b1), ex.w2) + ex.b2;
      expected = expected + y[0] * (p[order[s]] / norm);
    }
    mg::testing::expect_close(out[t], expected, 1e-12, 1e-10);
  }
}

TEST(SimpleMoE, GradcheckOnSmallLayer) {
  SimpleMoELayer moe(/*d=*/4, /*hidden=*/5, /*experts=*/3, /*k=*/2, mg::kFloat64, 5);
  auto x = mg::testing::grad_input({2, 3, 4}, 6);
  std::vector<mg::Tensor> inputs{x};
  for (const mg::Tensor& p : moe.parameters()) inputs.push_back(p);
  // The layer reads x and its parameters directly; gradcheck perturbs them in place.
  auto r =
      mg::gradcheck([&moe, &x](const std::vector<mg::Tensor>&) { return moe.forward(x); }, inputs);
  EXPECT_TRUE(r.ok) << r;
}
