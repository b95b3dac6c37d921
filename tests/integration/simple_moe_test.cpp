// The user's acceptance check: a sparse MoE layer written only with generic ops.
#include "common/test_util.h"

namespace mg = mixgrad;

namespace {

struct Expert {
  mg::Tensor w1, b1, w2, b2;  // two-layer MLP: d -> hidden -> d
};

struct SimpleMoELayer {
  mg::Tensor gate;  // [d, experts]
  std::vector<Expert> experts;
  int64_t top_k;

  SimpleMoELayer(int64_t d, int64_t hidden, int64_t num_experts, int64_t k, mg::DType dtype,
                 uint64_t seed)
      : top_k(k) {
    mg::Generator gen(seed);
    auto param = [&](mg::Shape shape, double scale) {
      return (mg::randn(shape, dtype, &gen) * scale).detach().requires_grad_();
    };
    gate = param({d, num_experts}, 0.5);
    for (int64_t e = 0; e < num_experts; ++e)
      experts.push_back({param({d, hidden}, 0.3), param({hidden}, 0.1), param({hidden, d}, 0.3),
                         param({d}, 0.1)});
  }

  std::vector<mg::Tensor> parameters() const {
    std::vector<mg::Tensor> p{gate};
    for (const Expert& e : experts) p.insert(p.end(), {e.w1, e.b1, e.w2, e.b2});
    return p;
  }

  mg::Tensor forward(const mg::Tensor& x) const {
    const int64_t d = x.size(-1);
    mg::Tensor tokens = x.reshape({-1, d});                        // [N, d]
    mg::Tensor probs = mg::softmax(mg::matmul(tokens, gate), -1);  // [N, E]
    auto [weights, chosen] = mg::topk(probs, top_k, -1);           // [N, k]
    weights = weights / weights.sum({-1}, /*keepdim=*/true);       // renormalise the k gates
    mg::Tensor out = mg::zeros_like(tokens);
    for (int64_t e = 0; e < static_cast<int64_t>(experts.size()); ++e) {
      mg::Tensor hits = mg::nonzero(mg::eq(chosen, e));  // [m, 2]: (token, slot) pairs
      if (hits.size(0) == 0) continue;
      mg::Tensor token_ids = hits.select(1, 0);
      mg::Tensor slot_ids = hits.select(1, 1);
      mg::Tensor xe = mg::index_select(tokens, 0, token_ids);
      const Expert& ex = experts[e];
      mg::Tensor ye = mg::matmul(mg::relu(mg::matmul(xe, ex.w1) + ex.b1), ex.w2) + ex.b2;
      mg::Tensor ge = mg::index(weights, {token_ids, slot_ids});  // [m]
      out = mg::index_add(out, 0, token_ids, ye * ge.unsqueeze(1));
    }
    return out.reshape(x.shape());
  }
};

}  // namespace

TEST(SimpleMoE, ForwardShapeAndGradientsReachEveryExpert) {
  SimpleMoELayer moe(/*d=*/32, /*hidden=*/64, /*experts=*/8, /*k=*/2, mg::kFloat32, 1);
  mg::Generator gen(2);
  auto x = mg::randn({4, 16, 32}, {}, &gen);
  auto out = moe.forward(x);
  EXPECT_EQ(out.shape(), (mg::Shape{4, 16, 32}));
  out.sum().backward();
  ASSERT_TRUE(moe.gate.grad().defined());
  EXPECT_GT(mg::abs(moe.gate.grad()).sum().item<float>(), 0.f);
  for (const Expert& e : moe.experts) {
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
      const Expert& ex = moe.experts[order[s]];
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
