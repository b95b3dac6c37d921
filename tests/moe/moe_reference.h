#pragma once
// The dense definition every sparse MoE path must equal: every expert runs on every token, and
// its output is weighted by the token's combine weight for that expert (the gate value where the
// slot is kept, 0 where the gate or the capacity drops it).
#include <gtest/gtest.h>

#include <functional>

#include "common/test_util.h"
#include "mixgrad.h"
#include "models/moe.h"

namespace mixgrad::models::testing {

struct ReferenceRun {
  Tensor output;      // x's shape
  Tensor routed;      // the routed experts' part of output, [T, d]
  Tensor aux_loss;    // the gate's
  int64_t slots = 0;  // routed (token, expert) pairs, kept or not
  int64_t dropped = 0;
};

// Routes x's tokens with moe.gate and applies capacity the way the layer's options and mode say
// (none when dropless or the gate bounds the load).
inline ReferenceRun moe_reference(MoE& moe, const Tensor& x) {
  const MoEOptions& o = moe.options();
  const Tensor tokens = x.reshape({-1, o.d_model});
  const Routing r = moe.gate->route(tokens);
  Tensor keep = r.keep.defined() ? r.keep : ones_like(r.gates, kBool);
  if (!o.dropless && !r.load_bounded) {
    const double factor = moe.is_training() ? o.capacity_factor_train : o.capacity_factor_eval;
    const int64_t capacity = expert_capacity(tokens.size(0), o.num_experts, factor, o.min_capacity);
    keep = logical_and(keep, lt(expert_positions(r.expert_index, o.num_experts), capacity));
  }
  const Tensor dense = scatter_add(zeros({tokens.size(0), o.num_experts}, r.gates.dtype()), 1,
                                   r.expert_index, r.gates * keep.to(r.gates.dtype()));
  Tensor y;
  for (int64_t e = 0; e < o.num_experts; ++e) {
    const Tensor term = moe.experts->expert(e, tokens) * dense.narrow(1, e, 1);
    y = y.defined() ? y + term : term;
  }
  const Tensor output = moe.shared ? y + (*moe.shared)(tokens) : y;
  return {output.reshape(x.shape()), y, r.aux_loss, keep.numel(),
          keep.numel() - keep.to(kInt64).sum().item<int64_t>()};
}

// The layer against moe_reference on x (float64, requires grad) with loss mse(out, target) + aux:
// equal outputs, dropped counts and gradients of x and of every parameter (a parameter the
// reference leaves without gradient must get none from the layer either). Returns the layer's
// output. `before_route` (optional) runs before each of the two routings, e.g. to reseed the
// generator of a gate that draws noise so that both see the same draws.
inline MoEOutput expect_moe_matches_reference(MoE& moe, const Tensor& x, double atol = 1e-12,
                                              double grad_rtol = 1e-10,
                                              const std::function<void()>& before_route = {}) {
  Generator gen(7);
  const Tensor target = randn(x.shape(), x.dtype(), &gen);
  if (before_route) before_route();
  const ReferenceRun reference = moe_reference(moe, x);
  (mse_loss(reference.output, target) + reference.aux_loss).backward();
  std::vector<Tensor> expected;
  for (const Tensor& p : moe.parameters()) {
    expected.push_back(p.grad().defined() ? p.grad().clone() : Tensor());
  }
  const Tensor expected_dx = x.grad().clone();
  moe.zero_grad();
  x.zero_grad();

  if (before_route) before_route();
  MoEOutput out = moe(x);
  EXPECT_EQ(out.dropped, reference.dropped);
  EXPECT_EQ(out.tokens_per_expert.sum().item<int64_t>(), reference.slots - reference.dropped);
  mixgrad::testing::expect_close(out.output, reference.output, atol, atol);
  (mse_loss(out.output, target) + out.aux_loss).backward();
  const auto params = moe.named_parameters();
  EXPECT_EQ(params.size(), expected.size());
  for (std::size_t i = 0; i < params.size() && i < expected.size(); ++i) {
    SCOPED_TRACE(params[i].first);
    const Tensor grad = params[i].second.grad();
    EXPECT_EQ(grad.defined(), expected[i].defined());
    if (grad.defined() && expected[i].defined()) {
      mixgrad::testing::expect_close(grad, expected[i], atol, grad_rtol);
    }
  }
  mixgrad::testing::expect_close(x.grad(), expected_dx, atol, grad_rtol);
  return out;
}

}  // namespace mixgrad::models::testing
