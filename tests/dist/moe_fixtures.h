#pragma once
// Models and data shared by the expert-parallel tests: MoE layers with stacked (FFNExperts) and
// listed (ExpertList) experts, built from fixed seeds so that every process and the one-process
// reference hold the same parameters, and each process's tokens.
#include <memory>
#include <string>
#include <vector>

#include "dist/process_group.h"
#include "mixgrad.h"

namespace mixgrad::testing::dist_fixtures {

inline constexpr int64_t kTokens = 6;  // per process
inline constexpr int64_t kModel = 4;

struct Case {
  int ep;  // processes per expert group
  int64_t experts;
  int64_t k;
  bool dropless;
  std::string name() const {
    return "ep " + std::to_string(ep) + ", E " + std::to_string(experts) + ", top-" +
           std::to_string(k) + (dropless ? ", dropless" : ", capacity");
  }
};

inline std::shared_ptr<models::MoE> make_moe(const Case& c) {
  manual_seed(11);  // the same parameters on every process and in the reference
  return std::make_shared<models::MoE>(
      models::MoEOptions{.d_model = kModel,
                         .hidden = 8,
                         .num_experts = c.experts,
                         .k = c.k,
                         .capacity_factor_train = 0.75,  // drops a few token-slots
                         .min_capacity = 1,
                         .dropless = c.dropless,
                         .tensor_options = TensorOptions(kFloat64)});
}

// The tokens of world rank r at a training step.
inline Tensor tokens_of(int r, int step) {
  Generator gen(static_cast<uint64_t>(1000 * step + r));
  return randn({kTokens, kModel}, kFloat64, &gen);
}

inline Tensor token_loss(const Tensor& out) {
  return square(out).sum({1}).mean();
}

inline std::vector<int> expert_parallel_sizes() {
  std::vector<int> sizes;
  for (int p = 1; p <= dist::world_size(); ++p)
    if (dist::world_size() % p == 0) sizes.push_back(p);
  return sizes;
}

// An MoE layer whose experts are a list of Linear modules (ExpertList).
inline std::shared_ptr<models::MoE> make_list_moe(int64_t experts) {
  manual_seed(12);
  std::vector<std::shared_ptr<nn::Module>> modules;
  for (int64_t e = 0; e < experts; ++e)
    modules.push_back(std::make_shared<nn::Linear>(kModel, kModel, true, TensorOptions(kFloat64)));
  return std::make_shared<models::MoE>(
      models::MoEOptions{.d_model = kModel,
                         .num_experts = experts,
                         .k = 1,
                         .dropless = true,
                         .tensor_options = TensorOptions(kFloat64)},
      nullptr, std::make_shared<models::ExpertList>(modules));
}

// An ExpertList MoE with a layer after it, so that parameters follow the experts in the
// optimizer's list (their positions move between layouts too).
struct ListNet : nn::Module {
  std::shared_ptr<models::MoE> moe;
  std::shared_ptr<nn::Linear> head;
  explicit ListNet(int64_t experts) {
    moe = register_module("moe", make_list_moe(experts));
    head = register_module("head",
                           std::make_shared<nn::Linear>(kModel, 2, true, TensorOptions(kFloat64)));
  }
  Tensor forward(const Tensor& x) override { return (*head)((*moe)(x).output); }
};

inline std::string state_name(int64_t index, const std::string& buffer) {
  return "state.0." + std::to_string(index) + "." + buffer;
}

inline Tensor find_state(const optim::OptimizerState& s, const std::string& name) {
  for (const auto& [key, t] : s.tensors)
    if (key == name) return t;
  return Tensor();
}

}  // namespace mixgrad::testing::dist_fixtures
