// set_default_dtype reaches every module's parameters and floating buffers: float64 experiments
// need no dtype argument on each layer.
#include <gtest/gtest.h>

#include <numeric>

#include "common/test_util.h"
#include "mixgrad.h"
#include "models/expert_ensemble.h"
#include "models/hierarchical_moe.h"
#include "models/mann.h"
#include "models/moe.h"
#include "nn/batch_norm.h"

namespace mixgrad {
namespace {

// Every floating tensor of the module's state has `dtype`; returns how many were checked.
int64_t expect_floating_state(const nn::Module& module, DType dtype) {
  int64_t checked = 0;
  for (const auto& [name, t] : module.state_dict()) {
    if (!is_floating(t.dtype())) continue;
    EXPECT_EQ(t.dtype(), dtype) << module.type_name() << " " << name;
    ++checked;
  }
  return checked;
}

std::vector<std::shared_ptr<nn::Module>> assorted_modules() {
  models::MANNOptions mann;
  mann.input_dim = 6;
  mann.output_dim = 3;
  mann.gating_indices = {0, 2};
  mann.num_experts = 2;
  mann.hidden = 4;
  mann.gating_hidden = 3;
  models::ExpertMLPOptions ensemble;
  ensemble.num_experts = 2;
  ensemble.sizes = {4, 5, 3};
  ensemble.activations = {models::Activation::ReLU, models::Activation::Tanh};
  return {std::make_shared<nn::Linear>(4, 3),
          std::make_shared<nn::Embedding>(5, 2),
          std::make_shared<nn::LayerNorm>(Shape{4}),
          std::make_shared<nn::BatchNorm1d>(4),
          std::make_shared<models::MoE>(
              models::MoEOptions{.d_model = 4, .hidden = 6, .num_experts = 3, .shared_experts = 1}),
          std::make_shared<models::HierarchicalMoE>(models::HierarchicalMoEOptions{
              .d_model = 4, .hidden = 5, .groups = 2, .experts_per_group = 2}),
          std::make_shared<models::MANN>(mann),
          std::make_shared<models::StackedExpertMLP>(ensemble)};
}

TEST(DefaultDtype, ModulesFollowItAndTheGuardRestoresIt) {
  ASSERT_EQ(default_dtype(), kFloat32);
  {
    DefaultDtypeGuard float64(kFloat64);
    for (const auto& module : assorted_modules())
      EXPECT_GT(expect_floating_state(*module, kFloat64), 0);
    // A float64 layer runs on float64 input with no dtype named anywhere.
    nn::Linear linear(4, 3);
    EXPECT_EQ(linear(ones({2, 4})).dtype(), kFloat64);
    models::MoE moe({.d_model = 4, .hidden = 6, .num_experts = 3});
    EXPECT_EQ(moe(randn({5, 4})).output.dtype(), kFloat64);
  }
  EXPECT_EQ(default_dtype(), kFloat32);
  for (const auto& module : assorted_modules())
    EXPECT_GT(expect_floating_state(*module, kFloat32), 0);
}

TEST(DefaultDtype, ExplicitDtypeWinsAndNonFloatingIsRefused) {
  DefaultDtypeGuard float64(kFloat64);
  EXPECT_EQ(nn::Linear(2, 2, true, kFloat32).weight.dtype(), kFloat32);
  EXPECT_EQ(arange(3).dtype(), kInt64);  // integer factories are unaffected
  EXPECT_EQ(arange(0.5, 2.0).dtype(), kFloat64);
  EXPECT_MG_ERROR(DefaultDtypeGuard{kInt64}, "expected float32 or float64");
  EXPECT_EQ(default_dtype(), kFloat64);  // a refused guard changes nothing
}

}  // namespace
}  // namespace mixgrad
