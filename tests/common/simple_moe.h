#pragma once
// The foundation issue's acceptance layer: a sparse top-k MoE written only with generic ops
// (softmax gate, topk, nonzero, index_select, index_add). Used by the integration tests and, on
// both devices, by the CUDA training test.
#include <cstdint>
#include <vector>

#include "mixgrad.h"

namespace mixgrad::testing {

struct SimpleMoEExpert {
  Tensor w1, b1, w2, b2;  // two-layer MLP: d -> hidden -> d
};

struct SimpleMoELayer {
  Tensor gate;  // [d, experts]
  std::vector<SimpleMoEExpert> experts;
  int64_t top_k;

  // Parameters are drawn on the CPU from `seed`, then moved to `device`, so runs on different
  // devices start from the same weights.
  SimpleMoELayer(int64_t d, int64_t hidden, int64_t num_experts, int64_t k, DType dtype,
                 uint64_t seed, Device device = Device::cpu())
      : top_k(k) {
    Generator gen(seed);
    auto param = [&](Shape shape, double scale) {
      return (randn(shape, dtype, &gen) * scale).to(device).detach().requires_grad_();
    };
    gate = param({d, num_experts}, 0.5);
    for (int64_t e = 0; e < num_experts; ++e)
      experts.push_back({param({d, hidden}, 0.3), param({hidden}, 0.1), param({hidden, d}, 0.3),
                         param({d}, 0.1)});
  }

  std::vector<Tensor> parameters() const {
    std::vector<Tensor> p{gate};
    for (const SimpleMoEExpert& e : experts) p.insert(p.end(), {e.w1, e.b1, e.w2, e.b2});
    return p;
  }

  Tensor forward(const Tensor& x) const {
    const int64_t d = x.size(-1);
    const Tensor tokens = x.reshape({-1, d});                 // [N, d]
    const Tensor probs = softmax(matmul(tokens, gate), -1);   // [N, E]
    auto [weights, chosen] = topk(probs, top_k, -1);          // [N, k]
    weights = weights / weights.sum({-1}, /*keepdim=*/true);  // renormalise the k gates
    Tensor out = zeros_like(tokens);
    for (int64_t e = 0; e < static_cast<int64_t>(experts.size()); ++e) {
      const Tensor hits = nonzero(eq(chosen, e));  // [m, 2]: (token, slot) pairs
      if (hits.size(0) == 0) continue;
      const Tensor token_ids = hits.select(1, 0), slot_ids = hits.select(1, 1);
      const Tensor xe = index_select(tokens, 0, token_ids);
      const SimpleMoEExpert& ex = experts[e];
      const Tensor ye = matmul(relu(matmul(xe, ex.w1) + ex.b1), ex.w2) + ex.b2;
      const Tensor ge = mixgrad::index(weights, {token_ids, slot_ids});  // [m]
      out = index_add(out, 0, token_ids, ye * ge.unsqueeze(1));
    }
    return out.reshape(x.shape());
  }
};

}  // namespace mixgrad::testing
