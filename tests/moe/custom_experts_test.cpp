// User-defined experts in the MoE layer: a list of arbitrary per-expert modules and one batched
// module over [E, C, d], each against the dense every-expert-on-every-token reference.
#include "models/custom_experts.h"

#include <gtest/gtest.h>

#include "common/test_util.h"
#include "mixgrad.h"
#include "models/moe.h"
#include "moe/moe_reference.h"

namespace mixgrad::models {
namespace {

using mixgrad::testing::expect_close;

constexpr int64_t kD = 6;

MoEOptions options(int64_t k, bool dropless) {
  // Capacity factor 0.5 with min_capacity 1 leaves one slot per expert: drops happen.
  return {.d_model = kD,
          .num_experts = 4,
          .k = k,
          .switch_loss_coef = 0.01,
          .capacity_factor_train = 0.5,
          .min_capacity = 1,
          .dropless = dropless,
          .tensor_options = kFloat64};
}

// Four experts of different shapes and depths: what a ModuleList of user networks looks like.
std::shared_ptr<ExpertList> heterogeneous_experts() {
  using nn::Linear;
  auto lin = [](int64_t in, int64_t out) {
    return std::make_shared<Linear>(in, out, true, kFloat64);
  };
  return std::make_shared<ExpertList>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Sequential>(lin(kD, 8), std::make_shared<nn::Tanh>(), lin(8, kD)),
      lin(kD, kD),
      std::make_shared<nn::Sequential>(lin(kD, 3), std::make_shared<nn::GELU>(), lin(3, 5),
                                       std::make_shared<nn::ReLU>(), lin(5, kD)),
      std::make_shared<nn::Sequential>(lin(kD, 16), std::make_shared<nn::Sigmoid>(), lin(16, kD))});
}

// A batched expert module as users write it: stacked weights, one bmm per layer, [E, C, d] in
// and out. Records the batch shapes it was called with.
class StackedTanhExperts : public nn::Module {
 public:
  explicit StackedTanhExperts(int64_t experts) {
    Generator gen(5);
    weight = register_parameter("weight", randn({experts, kD, kD}, kFloat64, &gen) * 0.5);
    bias = register_parameter("bias", randn({experts, 1, kD}, kFloat64, &gen));
  }
  Tensor forward(const Tensor& x) override {
    seen.push_back(x.shape());
    return tanh(bmm(x, weight) + bias);
  }
  Tensor weight, bias;
  std::vector<Shape> seen;
};

struct Case {
  int64_t k;
  bool dropless;
};

class CustomExpertsAgainstReference : public ::testing::TestWithParam<Case> {};

TEST_P(CustomExpertsAgainstReference, ExpertListOutputsAndGradients) {
  const Case c = GetParam();
  manual_seed(21);
  MoE moe(options(c.k, c.dropless), nullptr, heterogeneous_experts());
  EXPECT_EQ(moe.find_tensor("experts.2.4.weight").shape(), (Shape{kD, 5}));
  Generator gen(2);
  Tensor x = randn({2, 7, kD}, kFloat64, &gen).requires_grad_();
  const MoEOutput out = testing::expect_moe_matches_reference(moe, x);
  EXPECT_EQ(out.dropped > 0, !c.dropless);
}

TEST_P(CustomExpertsAgainstReference, BatchedExpertsOutputsAndGradients) {
  const Case c = GetParam();
  manual_seed(22);
  auto stacked = std::make_shared<StackedTanhExperts>(4);
  MoE moe(options(c.k, c.dropless), nullptr, std::make_shared<BatchedExperts>(4, stacked));
  Generator gen(3);
  Tensor x = randn({2, 7, kD}, kFloat64, &gen).requires_grad_();
  stacked->seen.clear();
  const MoEOutput out = testing::expect_moe_matches_reference(moe, x);
  EXPECT_EQ(out.dropped > 0, !c.dropless);
  // The layer's call padded to the busiest expert's row count.
  ASSERT_FALSE(stacked->seen.empty());
  const auto counts = out.tokens_per_expert.to_vector<int64_t>();
  EXPECT_EQ(stacked->seen.back(), (Shape{4, *std::max_element(counts.begin(), counts.end()), kD}));
}

INSTANTIATE_TEST_SUITE_P(KAndCapacity, CustomExpertsAgainstReference,
                         ::testing::Values(Case{1, false}, Case{2, false}, Case{3, false},
                                           Case{2, true}, Case{3, true}));

// The same FFN as a list of Sequential(Linear, GELU, Linear) with copied weights, behind the same
// gate, gives the grouped-GEMM experts' output.
TEST(ExpertList, EqualsStackedFFNExpertsWithCopiedWeights) {
  manual_seed(23);
  MoEOptions o = options(2, true);
  o.hidden = 5;
  MoE stacked(o);
  std::vector<std::shared_ptr<nn::Module>> list;
  const auto& ffn = dynamic_cast<FFNExperts&>(*stacked.experts);
  for (int64_t e = 0; e < 4; ++e) {
    auto fc1 = std::make_shared<nn::Linear>(kD, 5, true, kFloat64);
    auto fc2 = std::make_shared<nn::Linear>(5, kD, true, kFloat64);
    NoGradGuard no_grad;
    fc1->weight.copy_(ffn.w1.select(0, e).t());
    fc1->bias.copy_(ffn.b1.select(0, e));
    fc2->weight.copy_(ffn.w2.select(0, e).t());
    fc2->bias.copy_(ffn.b2.select(0, e));
    list.push_back(std::make_shared<nn::Sequential>(fc1, std::make_shared<nn::GELU>(), fc2));
  }
  MoE listed(o, stacked.gate, std::make_shared<ExpertList>(list));
  Generator gen(4);
  const Tensor x = randn({9, kD}, kFloat64, &gen);
  expect_close(listed(x).output, stacked(x).output, 1e-12, 1e-12);
}

// An expert that cannot take an empty batch (like BatchNorm in training) is never called with one.
class RejectsEmpty : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override {
    MG_CHECK(x.size(0) > 0, "RejectsEmpty", "empty batch");
    return x * 2.0;
  }
};

TEST(ExpertList, SkipsExpertsWithoutRows) {
  ExpertList experts({std::make_shared<RejectsEmpty>(), std::make_shared<RejectsEmpty>(),
                      std::make_shared<RejectsEmpty>()});
  const Tensor rows = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, kFloat64).reshape({3, 2});
  const Tensor y = experts.forward(rows, tensor<int64_t>({2, 0, 1}));
  mixgrad::testing::expect_values(y, {3, 2}, {2, 4, 6, 8, 10, 12});
  EXPECT_EQ(experts.forward(zeros({0, 2}, kFloat64), tensor<int64_t>({0, 0, 0})).shape(),
            (Shape{0, 2}));
}

TEST(BatchedExperts, ExpertRunsOneSlice) {
  auto stacked = std::make_shared<StackedTanhExperts>(3);
  BatchedExperts experts(3, stacked);
  Generator gen(6);
  const Tensor x = randn({4, kD}, kFloat64, &gen);
  expect_close(experts.expert(1, x),
               tanh(matmul(x, stacked->weight.select(0, 1)) + stacked->bias.select(0, 1)), 1e-12,
               1e-12);
  EXPECT_EQ(stacked->seen.back(), (Shape{3, 4, kD}));
}

class WrongWidth : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { return x.narrow(-1, 0, 2); }
};

class DropsExpertDim : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { return x.sum({0}); }
};

TEST(CustomExperts, Errors) {
  EXPECT_MG_ERROR(ExpertList({}), "at least one expert");
  EXPECT_MG_ERROR(ExpertList({std::make_shared<WrongWidth>(), nullptr}), "expert 1 is null");
  EXPECT_MG_ERROR(BatchedExperts(0, std::make_shared<WrongWidth>()), "must be positive");
  EXPECT_MG_ERROR(BatchedExperts(2, nullptr), "module is null");

  // The layer and its experts must agree on the expert count.
  const auto one_expert = std::make_shared<ExpertList>(
      std::vector<std::shared_ptr<nn::Module>>{std::make_shared<WrongWidth>()});
  EXPECT_MG_ERROR(MoE(options(2, true), nullptr, one_expert), "has 1 experts; the layer has 4");

  // Experts must give back one row of width d per row.
  MoE narrow(options(2, true), nullptr,
             std::make_shared<ExpertList>(
                 std::vector<std::shared_ptr<nn::Module>>(4, std::make_shared<WrongWidth>())));
  EXPECT_MG_ERROR(narrow(zeros({5, kD}, kFloat64)), "must return one row of width 6");
  BatchedExperts collapsing(2, std::make_shared<DropsExpertDim>());
  EXPECT_MG_ERROR(collapsing.forward(zeros({3, kD}, kFloat64), tensor<int64_t>({1, 2})),
                  "must map [E, C, d] to [E, C, d_out]");

  // Counts must describe the rows.
  ExpertList two({std::make_shared<WrongWidth>(), std::make_shared<WrongWidth>()});
  EXPECT_MG_ERROR(two.forward(zeros({3, kD}, kFloat64), tensor<int64_t>({1, 1})),
                  "counts sum to 2 but there are 3 rows");
  EXPECT_MG_ERROR(two.forward(zeros({3, kD}, kFloat64), tensor<int64_t>({1, 1, 1})),
                  "counts must be an int64 [2] tensor");
  EXPECT_MG_ERROR(two.forward(zeros({3, kD}, kFloat64), tensor<int64_t>({4, -1})),
                  "counts[1] is negative");
  EXPECT_MG_ERROR(two.expert(2, zeros({1, kD}, kFloat64)), "expert 2 is out of range");
}

// Expert parallelism cuts experts into shares: a share computes exactly what the same experts
// compute in the whole module, and copies (FFNExperts) or shares (ExpertList) their weights.
TEST(ExpertShards, ShareComputesWhatTheWholeComputes) {
  manual_seed(3);
  FFNExperts ffn({.num_experts = 4, .d_model = kD, .hidden = 5, .tensor_options = kFloat64});
  ExpertList list({std::make_shared<nn::Linear>(kD, kD, true, kFloat64),
                   std::make_shared<nn::Linear>(kD, kD, true, kFloat64),
                   std::make_shared<nn::Linear>(kD, kD, true, kFloat64)});
  const Tensor x = mixgrad::testing::seeded_randn({3, kD}, kFloat64, 4);
  for (Experts* whole : std::initializer_list<Experts*>{&ffn, &list}) {
    SCOPED_TRACE(whole->type_name());
    const uint64_t before = default_generator().offset();
    std::shared_ptr<Experts> share = whole->shard(1, 2);
    EXPECT_EQ(default_generator().offset(), before);
    EXPECT_EQ(share->num_experts(), 2);
    for (int64_t e = 0; e < 2; ++e)
      expect_close(share->expert(e, x), whole->expert(e + 1, x), 0, 0);
    EXPECT_MG_ERROR(whole->shard(2, 2 + whole->num_experts()), "not a non-empty range");
    EXPECT_MG_ERROR(whole->shard(-1, 1), "not a non-empty range");
  }
  auto part = std::dynamic_pointer_cast<FFNExperts>(ffn.shard(2, 2));
  ASSERT_TRUE(part);
  EXPECT_EQ(part->w1.shape(), Shape({2, kD, 5}));
  EXPECT_TRUE(part->w1.requires_grad());
  EXPECT_NE(part->w1.data_ptr(), ffn.w1.narrow(0, 2, 2).data_ptr());  // a copy
  BatchedExperts batched(2, std::make_shared<nn::Linear>(kD, kD));
  EXPECT_MG_ERROR(batched.shard(0, 1), "cannot be cut");
}

}  // namespace
}  // namespace mixgrad::models
