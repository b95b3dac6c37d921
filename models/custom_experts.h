#pragma once
// User-defined experts for the MoE layer, in the two forms PyTorch MoE users write them:
//   ExpertList: any module per expert (a ModuleList of arbitrary networks, even of different
//     shapes); each expert runs once on the contiguous block of rows it received.
//   BatchedExperts: one module that computes all experts at once on a padded [E, C, d] batch
//     (expert e on slice e, C = the largest number of rows any expert received), typically
//     written with stacked weights and bmm/einsum.
// Both feed MoE through the Experts interface: MoE(options, gate, std::make_shared<...>(...)).
#include <memory>
#include <vector>

#include "models/experts.h"

namespace mixgrad::models {

class ExpertList : public Experts {
 public:
  // Expert e is modules[e], registered as "e" (parameter names read "experts.3.fc1.weight").
  // Each module takes [N, d] and returns [N, d_out] with the same d_out for every expert.
  // Throws Error for an empty list or a null module.
  explicit ExpertList(std::vector<std::shared_ptr<nn::Module>> modules);
  Tensor forward(const Tensor& rows, const Tensor& counts) override;
  Tensor expert(int64_t e, const Tensor& x) override;
  int64_t num_experts() const override { return static_cast<int64_t>(modules_.size()); }
  // The same modules (shared, not copied) of experts [first, first + count).
  std::shared_ptr<Experts> shard(int64_t first, int64_t count) const override;
  // Bounds-checked access to expert e's module.
  const std::shared_ptr<nn::Module>& operator[](int64_t e) const;

 private:
  Tensor run_checked(int64_t e, const Tensor& x);
  std::vector<std::shared_ptr<nn::Module>> modules_;
};

class BatchedExperts : public Experts {
 public:
  // `module` maps [E, C, d] to [E, C, d_out], slice e depending only on input slice e (padding
  // rows are zeros and their outputs are discarded). Throws Error for num_experts <= 0 or a null
  // module.
  BatchedExperts(int64_t num_experts, std::shared_ptr<nn::Module> module);
  Tensor forward(const Tensor& rows, const Tensor& counts) override;
  // Runs the module on [E, N, d] with x in slice e and zeros elsewhere.
  Tensor expert(int64_t e, const Tensor& x) override;
  int64_t num_experts() const override { return num_experts_; }
  const std::shared_ptr<nn::Module>& module() const { return module_; }

 private:
  Tensor run_checked(const Tensor& batch);
  int64_t num_experts_;
  std::shared_ptr<nn::Module> module_;
};

}  // namespace mixgrad::models
