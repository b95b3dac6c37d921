#include "data/dataset.h"

#include <numeric>

#include "core/generator.h"
#include "ops/creation.h"
#include "ops/index.h"
#include "ops/join.h"

namespace mixgrad::data {

namespace {

// Stacks one field (input or target) of every example; `field` is "input" or "target".
Tensor stack_field(const std::vector<Tensor>& parts, const std::vector<int64_t>& indices,
                   const char* field) {
  const char* op = "Dataset::get_batch";
  const Tensor& first = parts[0];
  const bool defined = first.defined();
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const Tensor& t = parts[i];
    MG_CHECK(t.defined() == defined, op, "the ", field, " of example ", indices[i], " is ",
             t.defined() ? "defined" : "undefined", " but that of example ", indices[0], " is ",
             defined ? "defined" : "undefined");
    if (!defined) continue;
    MG_CHECK(t.shape() == first.shape() && t.dtype() == first.dtype(), op, "the ", field,
             " of example ", indices[i], " is ", describe(t), " but that of example ", indices[0],
             " is ", describe(first), "; examples must match to be stacked");
  }
  return defined ? stack(parts, 0) : Tensor();
}

}  // namespace

void check_example_index(const char* op, int64_t index, int64_t size) {
  MG_CHECK(index >= 0 && index < size, op, "index ", index,
           " is out of range for a dataset of size ", size);
}

Example Dataset::get_batch(const std::vector<int64_t>& indices) const {
  MG_CHECK(!indices.empty(), "Dataset::get_batch", "expected at least one index");
  std::vector<Tensor> inputs, targets;
  inputs.reserve(indices.size());
  targets.reserve(indices.size());
  for (int64_t index : indices) {
    Example e = get(index);
    inputs.push_back(std::move(e.input));
    targets.push_back(std::move(e.target));
  }
  return {stack_field(inputs, indices, "input"), stack_field(targets, indices, "target")};
}

TensorDataset::TensorDataset(Tensor inputs, Tensor targets)
    : inputs_(std::move(inputs)), targets_(std::move(targets)) {
  const char* op = "TensorDataset";
  MG_CHECK(inputs_.defined(), op, "inputs are undefined");
  MG_CHECK(inputs_.dim() >= 1, op, "inputs must have a dim 0 to index, got a 0-dim tensor");
  if (targets_.defined()) {
    MG_CHECK(targets_.dim() >= 1, op, "targets must have a dim 0 to index, got a 0-dim tensor");
    MG_CHECK(targets_.size(0) == inputs_.size(0), op, "inputs have ", inputs_.size(0),
             " examples (shape ", inputs_.shape(), ") but targets have ", targets_.size(0),
             " (shape ", targets_.shape(), ")");
  }
}

int64_t TensorDataset::size() const {
  return inputs_.size(0);
}

Example TensorDataset::get(int64_t index) const {
  check_example_index("TensorDataset::get", index, size());
  return {inputs_.select(0, index), targets_.defined() ? targets_.select(0, index) : Tensor()};
}

Example TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  const char* op = "TensorDataset::get_batch";
  MG_CHECK(!indices.empty(), op, "expected at least one index");
  for (int64_t index : indices) check_example_index(op, index, size());
  const Tensor rows = tensor(indices);
  return {index_select(inputs_, 0, rows),
          targets_.defined() ? index_select(targets_, 0, rows) : Tensor()};
}

Subset::Subset(std::shared_ptr<const Dataset> dataset, std::vector<int64_t> indices)
    : dataset_(std::move(dataset)), indices_(std::move(indices)) {
  MG_CHECK(dataset_ != nullptr, "Subset", "the dataset is null");
  const int64_t n = dataset_->size();
  for (int64_t index : indices_) check_example_index("Subset", index, n);
}

int64_t Subset::size() const {
  return static_cast<int64_t>(indices_.size());
}

Example Subset::get(int64_t index) const {
  check_example_index("Subset::get", index, size());
  return dataset_->get(indices_[index]);
}

Example Subset::get_batch(const std::vector<int64_t>& indices) const {
  const char* op = "Subset::get_batch";
  MG_CHECK(!indices.empty(), op, "expected at least one index");
  std::vector<int64_t> mapped;
  mapped.reserve(indices.size());
  for (int64_t index : indices) {
    check_example_index(op, index, size());
    mapped.push_back(indices_[index]);
  }
  return dataset_->get_batch(mapped);
}

std::vector<std::shared_ptr<Subset>> random_split(std::shared_ptr<const Dataset> dataset,
                                                  const std::vector<int64_t>& sizes,
                                                  Generator& gen) {
  const char* op = "random_split";
  MG_CHECK(dataset != nullptr, op, "the dataset is null");
  for (int64_t s : sizes) MG_CHECK(s >= 0, op, "sizes must be non-negative, got ", sizes);
  const int64_t n = dataset->size();
  const int64_t total = std::accumulate(sizes.begin(), sizes.end(), int64_t{0});
  MG_CHECK(total == n, op, "sizes ", sizes, " add up to ", total, ", not to the dataset size ", n);
  const std::vector<int64_t> order = randperm(n, kInt64, &gen).to_vector<int64_t>();
  std::vector<std::shared_ptr<Subset>> parts;
  auto next = order.begin();
  for (int64_t s : sizes) {
    parts.push_back(std::make_shared<Subset>(dataset, std::vector<int64_t>(next, next + s)));
    next += s;
  }
  return parts;
}

}  // namespace mixgrad::data
