#pragma once
// Datasets: fixed-size, indexable collections of (input, target) examples, and the batching of
// several examples into one.
#include <cstdint>
#include <memory>
#include <vector>

#include "core/tensor.h"

namespace mixgrad {
class Generator;
}

namespace mixgrad::data {

// One example, or a batch of them joined along a new dim 0. `target` may be undefined
// (unlabelled data).
struct Example {
  Tensor input;
  Tensor target;
};

// The interface a DataLoader draws from. Implementations must be safe to call from another
// thread while nothing mutates them (a prefetching DataLoader calls get_batch on a worker).
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // Example `index`, 0 <= index < size(); throws mixgrad::Error naming the index and the size
  // otherwise.
  virtual Example get(int64_t index) const = 0;
  // The examples at `indices`, each tensor stacked along a new dim 0; the target stays undefined
  // when every example's is. Override it when a faster path exists. Throws for an empty list, an
  // index out of range, shapes or dtypes that differ between examples, or targets defined for
  // some examples only.
  virtual Example get_batch(const std::vector<int64_t>& indices) const;
};

// Throws Error(op, "index I is out of range for a dataset of size N") unless 0 <= index < size.
void check_example_index(const char* op, int64_t index, int64_t size);

// Examples are the slices along dim 0 of `inputs` (and of `targets`, when given).
class TensorDataset : public Dataset {
 public:
  // Throws unless inputs is defined with >= 1 dim, and targets (if defined) has >= 1 dim and
  // as many rows as inputs.
  explicit TensorDataset(Tensor inputs, Tensor targets = Tensor());
  int64_t size() const override;
  // Views of row `index` (no copy).
  Example get(int64_t index) const override;
  // One index_select per tensor instead of stacking row views.
  Example get_batch(const std::vector<int64_t>& indices) const override;
  const Tensor& inputs() const { return inputs_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor inputs_;
  Tensor targets_;
};

// The examples of `dataset` at `indices` (in that order; repeats allowed).
class Subset : public Dataset {
 public:
  // Throws for a null dataset or an index outside it.
  Subset(std::shared_ptr<const Dataset> dataset, std::vector<int64_t> indices);
  int64_t size() const override;
  Example get(int64_t index) const override;
  // Maps the indices and forwards to the underlying dataset's get_batch (keeping its fast path).
  Example get_batch(const std::vector<int64_t>& indices) const override;
  const std::vector<int64_t>& indices() const { return indices_; }

 private:
  std::shared_ptr<const Dataset> dataset_;
  std::vector<int64_t> indices_;
};

// Splits a random permutation of the dataset (drawn from `gen`) into disjoint subsets of the
// given sizes, in order. Throws for a null dataset, a negative size, or sizes that do not add
// up to dataset->size().
std::vector<std::shared_ptr<Subset>> random_split(std::shared_ptr<const Dataset> dataset,
                                                  const std::vector<int64_t>& sizes,
                                                  Generator& gen);

}  // namespace mixgrad::data
