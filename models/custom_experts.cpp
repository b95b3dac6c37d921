#include "models/custom_experts.h"

#include <algorithm>
#include <string>

#include "ops/ops.h"

namespace mixgrad::models {

namespace {

void check_expert_index(const char* who, int64_t e, int64_t num_experts) {
  MG_CHECK(e >= 0 && e < num_experts, who, "expert ", e, " is out of range for ", num_experts,
           " experts");
}

}  // namespace

ExpertList::ExpertList(std::vector<std::shared_ptr<nn::Module>> modules)
    : modules_(std::move(modules)) {
  MG_CHECK(!modules_.empty(), "ExpertList", "needs at least one expert");
  for (std::size_t e = 0; e < modules_.size(); ++e) {
    MG_CHECK(modules_[e] != nullptr, "ExpertList", "expert ", e, " is null");
    register_module(std::to_string(e), modules_[e]);
  }
}

const std::shared_ptr<nn::Module>& ExpertList::operator[](int64_t e) const {
  check_expert_index("ExpertList", e, num_experts());
  return modules_[e];
}

Tensor ExpertList::run_checked(int64_t e, const Tensor& x) {
  Tensor y = (*modules_[e])(x);
  MG_CHECK(y.dim() == 2 && y.size(0) == x.size(0), "ExpertList", "expert ", e, " (",
           modules_[e]->type_name(), ") must map [N, d] to [N, d_out]; it mapped ", describe(x),
           " to ", describe(y));
  return y;
}

Tensor ExpertList::forward(const Tensor& rows, const Tensor& counts) {
  const std::vector<int64_t> sizes = check_expert_counts("ExpertList", rows, counts, num_experts());
  std::vector<Tensor> outputs;
  int64_t begin = 0;
  for (int64_t e = 0; e < num_experts(); ++e) {
    if (sizes[e] == 0) continue;  // experts need not accept empty batches (BatchNorm does not)
    outputs.push_back(run_checked(e, rows.narrow(0, begin, sizes[e])));
    MG_CHECK(outputs.back().size(1) == outputs.front().size(1), "ExpertList", "expert ", e,
             " returns width ", outputs.back().size(1), " but an earlier expert returns ",
             outputs.front().size(1));
    begin += sizes[e];
  }
  if (outputs.empty()) return zeros({0, rows.size(1)}, options_of(rows));
  return outputs.size() == 1 ? outputs.front() : cat(outputs, 0);
}

std::shared_ptr<Experts> ExpertList::shard(int64_t first, int64_t count) const {
  check_expert_range("ExpertList.shard", first, count, num_experts());
  return std::make_shared<ExpertList>(std::vector<std::shared_ptr<nn::Module>>(
      modules_.begin() + first, modules_.begin() + first + count));
}

Tensor ExpertList::expert(int64_t e, const Tensor& x) {
  check_expert_index("ExpertList.expert", e, num_experts());
  return run_checked(e, x);
}

BatchedExperts::BatchedExperts(int64_t num_experts, std::shared_ptr<nn::Module> module)
    : num_experts_(num_experts), module_(std::move(module)) {
  MG_CHECK(num_experts > 0, "BatchedExperts", "num_experts must be positive, got ", num_experts);
  MG_CHECK(module_ != nullptr, "BatchedExperts", "the module is null");
  register_module("module", module_);
}

Tensor BatchedExperts::run_checked(const Tensor& batch) {
  Tensor y = (*module_)(batch);
  MG_CHECK(y.dim() == 3 && y.size(0) == batch.size(0) && y.size(1) == batch.size(1),
           "BatchedExperts", module_->type_name(),
           " must map [E, C, d] to [E, C, d_out]; it mapped ", describe(batch), " to ",
           describe(y));
  return y;
}

Tensor BatchedExperts::forward(const Tensor& rows, const Tensor& counts) {
  const std::vector<int64_t> sizes =
      check_expert_counts("BatchedExperts", rows, counts, num_experts_);
  const int64_t capacity = std::max<int64_t>(1, *std::max_element(sizes.begin(), sizes.end()));
  // Row i of expert e goes to slot e * capacity + (its position among expert e's rows).
  std::vector<int64_t> slot;
  slot.reserve(rows.size(0));
  for (int64_t e = 0; e < num_experts_; ++e) {
    for (int64_t j = 0; j < sizes[e]; ++j) slot.push_back(e * capacity + j);
  }
  const Tensor slots = tensor(slot, Shape{static_cast<int64_t>(slot.size())},
                              TensorOptions(kInt64).device(rows.device()));
  const int64_t d = rows.size(1);
  const Tensor padded =
      index_add(zeros({num_experts_ * capacity, d}, options_of(rows)), 0, slots, rows);
  const Tensor out = run_checked(padded.reshape({num_experts_, capacity, d}));
  return out.reshape({num_experts_ * capacity, out.size(2)}).index_select(0, slots);
}

Tensor BatchedExperts::expert(int64_t e, const Tensor& x) {
  check_expert_index("BatchedExperts.expert", e, num_experts_);
  MG_CHECK(x.dim() == 2, "BatchedExperts.expert", "x must be [N, d], got ", describe(x));
  std::vector<Tensor> slices(num_experts_, zeros(x.shape(), options_of(x)));
  slices[e] = x;
  return run_checked(stack(slices, 0)).select(0, e);
}

}  // namespace mixgrad::models
