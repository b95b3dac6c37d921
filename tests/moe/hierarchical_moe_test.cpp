#include "models/hierarchical_moe.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/test_util.h"
#include "mixgrad.h"

namespace mixgrad::models {
namespace {

using mixgrad::testing::expect_close;

HierarchicalMoEOptions small_hmoe(int64_t k1, int64_t k2) {
  return {.d_model = 5,
          .hidden = 7,
          .groups = 3,
          .experts_per_group = 4,
          .k_groups = k1,
          .k_experts = k2,
          .capacity = {.dropless = true},
          .tensor_options = kFloat64};
}

// The definition: every group's inner gate on every token, every expert on every token, masked
// by the selected (group, expert) pairs and weighted by G_outer * G_inner.
Tensor brute_force(HierarchicalMoE& moe, const Tensor& tokens) {
  const auto& o = moe.options();
  Routing first = moe.outer.route(tokens);
  Tensor inner = softmax(matmul(tokens, moe.inner_weight), 2);  // [G, T, E_g]
  ValuesIndices top = topk(inner, o.k_experts, 2);
  Tensor inner_gates = top.values / top.values.sum({2}, true);
  const int64_t t = tokens.size(0), per = o.experts_per_group;
  Tensor dense = zeros({t, o.groups * per}, kFloat64);
  for (int64_t s = 0; s < o.k_groups; ++s) {
    Tensor group = first.expert_index.narrow(1, s, 1);                       // [T, 1]
    Tensor pick = group.unsqueeze(2).expand({t, 1, o.k_experts});            // [T, 1, k2]
    Tensor g2 = gather(inner_gates.permute({1, 0, 2}), 1, pick).squeeze(1);  // [T, k2]
    Tensor j = gather(top.indices.permute({1, 0, 2}), 1, pick).squeeze(1);
    dense = scatter_add(dense, 1, group * per + j, g2 * first.gates.narrow(1, s, 1));
  }
  Tensor y;
  for (int64_t e = 0; e < o.groups * per; ++e) {
    Tensor term = moe.experts.expert(e, tokens) * dense.narrow(1, e, 1);
    y = y.defined() ? y + term : term;
  }
  return y;
}

TEST(HierarchicalMoE, EqualsBruteForceWithGradients) {
  for (auto [k1, k2] : {std::pair<int64_t, int64_t>{1, 1}, {2, 2}, {2, 3}, {3, 1}}) {
    SCOPED_TRACE("k=(" + std::to_string(k1) + ", " + std::to_string(k2) + ")");
    manual_seed(21);
    HierarchicalMoE moe(small_hmoe(k1, k2));
    Generator gen(8);
    Tensor x = randn({9, 5}, kFloat64, &gen).requires_grad_();
    Tensor target = randn({9, 5}, kFloat64, &gen);
    mse_loss(brute_force(moe, x), target).backward();
    std::vector<Tensor> expected;
    for (const Tensor& p : moe.parameters()) {
      expected.push_back(p.grad().defined() ? p.grad().clone() : zeros_like(p));
    }
    Tensor expected_dx = x.grad().clone();
    moe.zero_grad();
    x.zero_grad();
    MoEOutput out = moe(x);
    expect_close(out.output, brute_force(moe, x), 1e-12, 1e-12);
    EXPECT_EQ(out.tokens_per_expert.sum().item<int64_t>(), 9 * k1 * k2);
    mse_loss(out.output, target).backward();
    auto params = moe.named_parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      SCOPED_TRACE(params[i].first);
      Tensor g = params[i].second.grad();
      expect_close(g.defined() ? g : zeros_like(params[i].second), expected[i], 1e-12, 1e-10);
    }
    expect_close(x.grad(), expected_dx, 1e-12, 1e-10);
  }
}

TEST(HierarchicalMoE, AuxLossSumsBothLevelsAndIsDifferentiable) {
  manual_seed(3);
  HierarchicalMoE moe(small_hmoe(2, 2));
  Generator gen(4);
  Tensor x = randn({6, 5}, kFloat64, &gen);
  Routing r = moe.route(x);
  ASSERT_EQ(r.losses.size(), 3u);
  EXPECT_EQ(r.losses[2].first, "inner_switch");
  expect_close(r.aux_loss, r.losses[0].second + r.losses[1].second + r.losses[2].second, 1e-15, 0);
  // Each level's Switch loss is at least its coefficient (perfect balance) and finite.
  EXPECT_GE(r.losses[2].second.item<double>(), 0.01 - 1e-12);
  EXPECT_LT(r.losses[2].second.item<double>(), 0.01 * 4);
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return moe.route(in[0]).aux_loss; },
                   std::vector<Tensor>{x.clone().requires_grad_()});
}

TEST(HierarchicalMoE, ErrorsAndPrinting) {
  HierarchicalMoE moe(small_hmoe(2, 2));
  EXPECT_EQ(moe.extra_repr(), "groups=3, experts_per_group=4, k=(2, 2)");
  EXPECT_MG_ERROR(moe(zeros({2, 4}, kFloat64)), "input must be [..., 5]");
  EXPECT_MG_ERROR(HierarchicalMoE(small_hmoe(4, 1)), "k=4 must be in [1, num_experts=3]");
  EXPECT_MG_ERROR(HierarchicalMoE(small_hmoe(1, 5)), "k_experts=5 must be in [1, 4]");
}

int64_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  int64_t kib = 0;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

// The (22, 22) configuration at d = 512: about a billion parameters, constructed
// (not run) while holding no more memory than the parameters need.
TEST(HierarchicalMoE, BillionParameterConstruction) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "4 GiB of parameters under AddressSanitizer's shadow memory is too much";
#endif
  const int64_t parameters = 22 * 512 + 22 * 512 * 22 + 484LL * (2 * 512 * 2048 + 2048 + 512);
  ASSERT_EQ(parameters, 1'016'519'680LL);
  const int64_t bytes = parameters * 4;
  if (available_memory_bytes() < 2 * bytes) GTEST_SKIP() << "needs about 8 GiB of free memory";
  const auto before = static_cast<int64_t>(memory_stats().allocated);
  reset_peak_memory_stats();
  HierarchicalMoE moe({.d_model = 512, .hidden = 2048, .groups = 22, .experts_per_group = 22});
  EXPECT_EQ(moe.num_parameters(), parameters);
  // Parameters are filled in place: the peak is the parameters themselves, up to the caching
  // allocator's rounding to its size classes (at most 1/4 of a block).
  const auto peak = static_cast<int64_t>(memory_stats().peak_allocated) - before;
  EXPECT_GE(peak, bytes);
  EXPECT_LE(peak, bytes + bytes / 4);
}

}  // namespace
}  // namespace mixgrad::models
