// MoE routing: dispatch plans (order, counts, offsets, stability, empty experts, drops), dispatch
// and combine against hand-worked values and a brute-force per-token sum, capacity positions,
// expert_capacity, normal_cdf, cv_squared, gradients and errors.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "common/test_util.h"

namespace mixgrad {
namespace {

using testing::expect_values;
using testing::grad_input;
using Inputs = std::vector<Tensor>;

Tensor ids(const std::vector<int64_t>& v, const Shape& shape) {
  return tensor(v, shape);
}

// T = 5 tokens, k = 2, E = 4 with expert 2 never chosen:
//   token 0: [3, 0]   token 1: [0, 3]   token 2: [3, 1]   token 3: [0, 3]   token 4: [3, 0]
// Flat pairs 0..9 hold experts 3 0 0 3 3 1 0 3 3 0.
constexpr int64_t kTokens = 5, kTopK = 2, kExperts = 4;
Tensor hand_assignment() {
  return ids({3, 0, 0, 3, 3, 1, 0, 3, 3, 0}, {kTokens, kTopK});
}

// Queue positions of the hand assignment: slot 0 choices fill first, in token order.
//   expert 0: (1,0) (3,0) (0,1) (4,1)   expert 1: (2,1)   expert 3: (0,0) (2,0) (4,0) (1,1) (3,1)
const std::vector<double> kHandPositions = {0, 2, 0, 3, 1, 0, 1, 4, 2, 3};

void expect_plan(const DispatchPlan& plan, const std::vector<double>& order,
                 const std::vector<double>& token_index, const std::vector<double>& counts,
                 const std::vector<double>& offsets) {
  const auto rows = static_cast<int64_t>(order.size());
  const auto experts = static_cast<int64_t>(counts.size());
  expect_values(plan.order, {rows}, order);
  expect_values(plan.token_index, {rows}, token_index);
  expect_values(plan.counts, {experts}, counts);
  expect_values(plan.offsets, {experts + 1}, offsets);
  EXPECT_EQ(plan.order.dtype(), kInt64);
  EXPECT_EQ(plan.token_index.dtype(), kInt64);
  EXPECT_EQ(plan.counts.dtype(), kInt64);
  EXPECT_EQ(plan.rows(), rows);
}

// Brute-force plan order: flat pair indices stably sorted by expert.
std::vector<double> reference_order(const std::vector<int64_t>& experts) {
  std::vector<int64_t> order(experts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return experts[a] < experts[b]; });
  return {order.begin(), order.end()};
}

// Brute-force queue positions: walk slot by slot, token by token, counting per expert.
std::vector<double> reference_positions(const std::vector<int64_t>& experts, int64_t tokens,
                                        int64_t k, int64_t num_experts) {
  std::vector<int64_t> filled(num_experts, 0);
  std::vector<double> positions(experts.size());
  for (int64_t s = 0; s < k; ++s)
    for (int64_t t = 0; t < tokens; ++t) positions[t * k + s] = filled[experts[t * k + s]]++;
  return positions;
}

// Expert e computes (e + 1) * x + e on its rows, slicing the dispatched rows by the offsets.
Tensor run_experts(const Tensor& rows, const DispatchPlan& plan) {
  const auto offsets = plan.offsets.to_vector<int64_t>();
  std::vector<Tensor> outs;
  for (int64_t e = 0; e < plan.num_experts; ++e) {
    Tensor part = rows.narrow(0, offsets[e], offsets[e + 1] - offsets[e]);
    outs.push_back(part * static_cast<double>(e + 1) + static_cast<double>(e));
  }
  return cat(outs, 0);
}

// The brute-force MoE output: sum over kept slots of gate * f_expert(x[token]).
std::vector<double> reference_moe(const std::vector<double>& x, int64_t d,
                                  const std::vector<int64_t>& experts,
                                  const std::vector<double>& gates, const std::vector<bool>& keep,
                                  int64_t tokens, int64_t k) {
  std::vector<double> out(tokens * d, 0.0);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t s = 0; s < k; ++s) {
      if (!keep[t * k + s]) continue;
      const auto e = static_cast<double>(experts[t * k + s]);
      for (int64_t j = 0; j < d; ++j)
        out[t * d + j] += gates[t * k + s] * ((e + 1) * x[t * d + j] + e);
    }
  return out;
}

// ---- make_dispatch_plan ----

TEST(DispatchPlan, HandBuiltOrderCountsOffsetsWithEmptyExpert) {
  DispatchPlan plan = make_dispatch_plan(hand_assignment(), kExperts);
  expect_plan(plan, {1, 2, 6, 9, 5, 0, 3, 4, 7, 8}, {0, 1, 3, 4, 2, 0, 1, 2, 3, 4}, {4, 1, 0, 5},
              {0, 4, 5, 5, 10});
  EXPECT_EQ(plan.num_tokens, kTokens);
  EXPECT_EQ(plan.top_k, kTopK);
  EXPECT_EQ(plan.num_experts, kExperts);
  EXPECT_EQ(plan.dropped, 0);
}

TEST(DispatchPlan, TrailingEmptyExpertsAndInt32Input) {
  auto index = tensor(std::vector<int32_t>{1, 0, 1, 1}, Shape{2, 2});
  expect_plan(make_dispatch_plan(index, 4), {1, 0, 2, 3}, {0, 0, 1, 1}, {1, 3, 0, 0},
              {0, 1, 4, 4, 4});
}

TEST(DispatchPlan, StableWhenEveryPairPicksTheSameExpert) {
  auto plan = make_dispatch_plan(zeros({6, 3}, kInt64) + 2, 3);
  std::vector<double> identity(18);
  std::iota(identity.begin(), identity.end(), 0.0);
  std::vector<double> tokens;
  for (int t = 0; t < 6; ++t) tokens.insert(tokens.end(), 3, t);
  expect_plan(plan, identity, tokens, {0, 0, 18}, {0, 0, 0, 18});
}

TEST(DispatchPlan, RandomAssignmentsMatchBruteForce) {
  Generator gen(7);
  const int64_t tokens = 97, k = 3, experts = 11;
  Tensor index = randint(0, experts, {tokens, k}, {}, &gen);
  const auto flat = index.to_vector<int64_t>();
  DispatchPlan plan = make_dispatch_plan(index, experts);
  const std::vector<double> order = reference_order(flat);
  expect_values(plan.order, {tokens * k}, order);
  std::vector<double> token_index, counts(experts, 0.0), offsets(1, 0.0);
  for (double p : order) token_index.push_back(std::floor(p / k));
  for (int64_t e : flat) counts[e] += 1;
  for (double c : counts) offsets.push_back(offsets.back() + c);
  expect_plan(plan, order, token_index, counts, offsets);
  expect_values(expert_positions(index, experts), {tokens, k},
                reference_positions(flat, tokens, k, experts));
}

TEST(DispatchPlan, NoTokens) {
  DispatchPlan plan = make_dispatch_plan(empty({0, 2}, kInt64), 3);
  expect_plan(plan, {}, {}, {0, 0, 0}, {0, 0, 0, 0});
  expect_values(dispatch(zeros({0, 4}), plan), {0, 4}, {});
  expect_values(combine(zeros({0, 4}), zeros({0, 2}), plan), {0, 4}, {});
  expect_values(expert_positions(empty({0, 2}, kInt64), 3), {0, 2}, {});
}

// ---- capacity ----

TEST(ExpertPositions, FirstChoicesFillBeforeSecondChoices) {
  Tensor positions = expert_positions(hand_assignment(), kExperts);
  EXPECT_EQ(positions.dtype(), kInt64);
  expect_values(positions, {kTokens, kTopK}, kHandPositions);
}

TEST(ExpertPositions, SameExpertInTwoSlotsTakesTwoPlaces) {
  // Token 0 picks expert 1 twice, token 1 once: slot 0 of both first, then token 0's slot 1.
  expect_values(expert_positions(ids({1, 1, 1, 0}, {2, 2}), 2), {2, 2}, {0, 2, 1, 0});
}

TEST(ExpertCapacity, Formula) {
  EXPECT_EQ(expert_capacity(100, 8, 1.25), 15);  // floor(15.625)
  EXPECT_EQ(expert_capacity(5, 4, 1.25), 4);     // floor(1.5625) = 1, raised to min 4
  EXPECT_EQ(expert_capacity(5, 4, 1.25, 0), 1);
  EXPECT_EQ(expert_capacity(3, 1, 2.0, 0), 3);  // never more than the group's tokens
  EXPECT_EQ(expert_capacity(2, 1, 2.0), 4);     // min_capacity applies last
  EXPECT_EQ(expert_capacity(64, 4, 2.0, 4), 32);
}

TEST(CapacityDrops, HandBuiltPlanDropsExactlyTheOverflow) {
  // Capacity 2 keeps positions 0 and 1 only: dropped pairs are (0,1) (1,1) (3,1) (4,0) (4,1).
  Tensor keep = lt(expert_positions(hand_assignment(), kExperts), 2);
  expect_values(keep, {kTokens, kTopK}, {1, 0, 1, 0, 1, 1, 1, 0, 0, 0});
  DispatchPlan plan = make_dispatch_plan(hand_assignment(), kExperts, keep);
  EXPECT_EQ(plan.dropped, 5);
  // Kept flat pairs: 0 (e3), 2 (e0), 4 (e3), 5 (e1), 6 (e0).
  expect_plan(plan, {2, 6, 5, 0, 4}, {1, 3, 2, 0, 2}, {2, 1, 0, 2}, {0, 2, 3, 3, 5});
}

TEST(CapacityDrops, DroppedSlotsContributeNothingAndGetZeroGateGradient) {
  auto x = tensor(std::vector<double>{1, 2, 3, 4, 5}, Shape{kTokens, 1});
  auto gates =
      tensor(std::vector<double>{0.6, 0.4, 0.3, 0.7, 0.5, 0.5, 0.9, 0.1, 0.2, 0.8}, Shape{5, 2})
          .requires_grad_();
  Tensor keep = lt(expert_positions(hand_assignment(), kExperts), 2);
  DispatchPlan plan = make_dispatch_plan(hand_assignment(), kExperts, keep);
  Tensor y = combine(run_experts(dispatch(x, plan), plan), gates, plan);
  // Kept: t0 s0 (e3: 4x+3 = 7) * 0.6; t1 s0 (e0: x = 2) * 0.3; t2 s0 (e3: 15) * 0.5 and
  // s1 (e1: 2x+1 = 7) * 0.5; t3 s0 (e0: 4) * 0.9; token 4 dropped entirely.
  expect_values(y, {5, 1}, {4.2, 0.6, 11.0, 3.6, 0.0}, 1e-12);
  y.sum().backward();
  expect_values(gates.grad(), {5, 2}, {7, 0, 2, 0, 15, 7, 4, 0, 0, 0}, 1e-12);
}

// ---- dispatch and combine ----

TEST(Combine, HandWorkedValuesAndGradients) {
  // Flat pairs hold experts 1 0 0 1: rows are pairs [1, 2, 0, 3] (tokens 0, 1, 0, 1).
  DispatchPlan plan = make_dispatch_plan(ids({1, 0, 0, 1}, {2, 2}), 2);
  auto expert_out = tensor(std::vector<double>{10, 20, 30, 40}, Shape{4, 1}).requires_grad_();
  auto gates = tensor(std::vector<double>{0.25, 0.75, 0.5, 0.5}, Shape{2, 2}).requires_grad_();
  Tensor y = combine(expert_out, gates, plan);
  // token 0: 0.25 * row 2 + 0.75 * row 0 = 7.5 + 7.5; token 1: 0.5 * row 1 + 0.5 * row 3.
  expect_values(y, {2, 1}, {15, 30});
  y.sum().backward();
  expect_values(gates.grad(), {2, 2}, {30, 10, 20, 40});
  expect_values(expert_out.grad(), {4, 1}, {0.75, 0.5, 0.25, 0.5});
}

TEST(Combine, DispatchRunCombineEqualsPerTokenBruteForce) {
  Generator gen(3);
  const int64_t tokens = 23, k = 3, experts = 5, d = 4;
  Tensor index = randint(0, experts, {tokens, k}, {}, &gen);
  Tensor x = randn({tokens, d}, kFloat64, &gen);
  Tensor gates = softmax(randn({tokens, k}, kFloat64, &gen), -1);
  DispatchPlan plan = make_dispatch_plan(index, experts);
  Tensor rows = dispatch(x, plan);
  EXPECT_EQ(rows.shape(), Shape({tokens * k, d}));
  Tensor y = combine(run_experts(rows, plan), gates, plan);
  expect_values(
      y, {tokens, d},
      reference_moe(x.to_vector<double>(), d, index.to_vector<int64_t>(), gates.to_vector<double>(),
                    std::vector<bool>(tokens * k, true), tokens, k),
      1e-12);
}

TEST(Combine, MixedPrecisionPromotes) {
  DispatchPlan plan = make_dispatch_plan(ids({0, 1}, {1, 2}), 2);
  Tensor y = combine(ones({2, 3}), full({1, 2}, 0.5, kFloat64), plan);
  EXPECT_EQ(y.dtype(), kFloat64);
  expect_values(y, {1, 3}, {1, 1, 1});
}

TEST(DispatchCombine, Gradcheck) {
  Tensor index = ids({3, 0, 0, 3, 3, 1, 0, 3, 3, 0}, {kTokens, kTopK});
  DispatchPlan plan = make_dispatch_plan(index, kExperts);
  DispatchPlan capped =
      make_dispatch_plan(index, kExperts, lt(expert_positions(index, kExperts), 2));
  EXPECT_GRADCHECK([&](const Inputs& in) { return dispatch(in[0], plan); },
                   (Inputs{grad_input({kTokens, 3}, 1)}));
  EXPECT_GRADCHECK([&](const Inputs& in) { return dispatch(in[0], capped); },
                   (Inputs{grad_input({kTokens, 3}, 2)}));
  EXPECT_GRADCHECK([&](const Inputs& in) { return combine(in[0], in[1], plan); },
                   (Inputs{grad_input({plan.rows(), 3}, 3), grad_input({kTokens, kTopK}, 4)}));
  EXPECT_GRADCHECK([&](const Inputs& in) { return combine(in[0], in[1], capped); },
                   (Inputs{grad_input({capped.rows(), 3}, 5), grad_input({kTokens, kTopK}, 6)}));
  // The whole path: experts applied to dispatched rows, gradients to x and gates together.
  EXPECT_GRADCHECK(
      [&](const Inputs& in) {
        return combine(square(run_experts(dispatch(in[0], plan), plan)), in[1], plan);
      },
      (Inputs{grad_input({kTokens, 2}, 7), grad_input({kTokens, kTopK}, 8)}));
}

// ---- normal_cdf ----

TEST(NormalCdf, Values) {
  auto x = tensor(std::vector<double>{0, 1, -1.96, 2, -8}, Shape{5});
  expect_values(
      normal_cdf(x), {5},
      {0.5, 0.8413447460685429, 0.024997895148220435, 0.9772498680518208, 6.22096057427178e-16},
      1e-13);
  Tensor from_int = normal_cdf(ids({0}, {1}));
  EXPECT_EQ(from_int.dtype(), default_dtype());
  expect_values(from_int, {1}, {0.5});
  EXPECT_EQ(normal_cdf(tensor({0.5f})).dtype(), kFloat32);
}

TEST(NormalCdf, GradientIsTheDensityAndGradchecks) {
  auto x = tensor(std::vector<double>{0, 1}, Shape{2}).requires_grad_();
  normal_cdf(x).sum().backward();
  expect_values(x.grad(), {2}, {0.3989422804014327, 0.24197072451914337}, 1e-15);
  EXPECT_GRADCHECK([](const Inputs& in) { return normal_cdf(in[0]); },
                   (Inputs{grad_input({3, 4}, 11)}));
}

// ---- cv_squared ----

TEST(CvSquared, PopulationAndUnbiasedVariance) {
  auto v = tensor(std::vector<double>{1, 2, 3, 4}, Shape{4});
  // mean 2.5; population variance 1.25, unbiased 5/3.
  expect_values(cv_squared(v), {}, {1.25 / (6.25 + 1e-10)}, 1e-15);
  expect_values(cv_squared(v, 1), {}, {(5.0 / 3.0) / (6.25 + 1e-10)}, 1e-15);
}

TEST(CvSquared, DegenerateVectorsGiveZero) {
  expect_values(cv_squared(tensor(std::vector<double>{3, 3, 3}, Shape{3})), {}, {0});
  expect_values(cv_squared(zeros({4}, kFloat64)), {}, {0});
  expect_values(cv_squared(tensor({5.f})), {}, {0});
  expect_values(cv_squared(tensor({5.f}), 1), {}, {0});
  expect_values(cv_squared(zeros({0})), {}, {0});
}

// Six float64 leaves around 3, so the mean stays well away from 0.
Tensor positive_input(uint64_t seed) {
  return (grad_input({6}, seed).detach() + 3.0).requires_grad_();
}

TEST(CvSquared, Gradcheck) {
  EXPECT_GRADCHECK([](const Inputs& in) { return cv_squared(in[0]); }, Inputs{positive_input(12)});
  EXPECT_GRADCHECK([](const Inputs& in) { return cv_squared(in[0], 1); },
                   Inputs{positive_input(13)});
}

// ---- errors ----

TEST(MoeRoutingErrors, BadAssignments) {
  EXPECT_MG_ERROR(make_dispatch_plan(ids({0, 3, 1, 2}, {2, 2}), 3),
                  "expert id 3 is out of range [0, 3)");
  EXPECT_MG_ERROR(make_dispatch_plan(ids({0, -1, 1, 2}, {2, 2}), 3),
                  "expert id -1 is out of range [0, 3)");
  EXPECT_MG_ERROR(expert_positions(ids({0, 5}, {1, 2}), 3), "expert id 5 is out of range");
  EXPECT_MG_ERROR(make_dispatch_plan(ids({0, 1}, {2}), 3), "must be [tokens, k]");
  EXPECT_MG_ERROR(make_dispatch_plan(zeros({2, 2}), 3), "must be int64 or int32");
  EXPECT_MG_ERROR(make_dispatch_plan(ids({0, 0}, {1, 2}), 0), "num_experts must be at least 1");
  EXPECT_MG_ERROR(make_dispatch_plan(ids({0, 0}, {1, 2}), 2, ones({2, 1}, kBool)),
                  "keep must be a bool mask of shape [1, 2]");
  EXPECT_MG_ERROR(make_dispatch_plan(ids({0, 0}, {1, 2}), 2, ones({1, 2}, kInt64)),
                  "keep must be a bool mask");
}

TEST(MoeRoutingErrors, ShapesThatDoNotMatchThePlan) {
  DispatchPlan plan = make_dispatch_plan(hand_assignment(), kExperts);
  EXPECT_MG_ERROR(dispatch(zeros({4, 3}), plan), "x must be [tokens, d] with 5 tokens");
  EXPECT_MG_ERROR(dispatch(zeros({5}), plan), "x must be [tokens, d]");
  EXPECT_MG_ERROR(combine(zeros({10, 3}), zeros({5, 3}), plan), "gates must be [5, 2]");
  EXPECT_MG_ERROR(combine(zeros({10, 3}), zeros({4, 2}), plan), "gates must be [5, 2]");
  EXPECT_MG_ERROR(combine(zeros({9, 3}), zeros({5, 2}), plan), "with the plan's 10 rows");
  EXPECT_MG_ERROR(combine(zeros({10, 3}), zeros({5, 2}, kInt64), plan), "must be floating");
  EXPECT_MG_ERROR(dispatch(zeros({5, 3}), DispatchPlan{}), "the dispatch plan is empty");
}

TEST(MoeRoutingErrors, CapacityAndLossArguments) {
  EXPECT_MG_ERROR(expert_capacity(10, 2, 0.0), "capacity_factor must be positive, got 0");
  EXPECT_MG_ERROR(expert_capacity(10, 2, -1.5), "capacity_factor must be positive");
  EXPECT_MG_ERROR(expert_capacity(10, 2, std::nan("")), "capacity_factor must be positive");
  EXPECT_MG_ERROR(expert_capacity(10, 0, 1.0), "num_experts must be at least 1");
  EXPECT_MG_ERROR(expert_capacity(-1, 2, 1.0), "tokens must be non-negative");
  EXPECT_MG_ERROR(cv_squared(zeros({2, 2})), "expects a floating 1-D tensor");
  EXPECT_MG_ERROR(cv_squared(ids({1, 2}, {2})), "expects a floating 1-D tensor");
  EXPECT_MG_ERROR(cv_squared(zeros({3}), 2), "correction must be 0 or 1");
}

}  // namespace
}  // namespace mixgrad
