#pragma once
// DataLoader: iterates a Dataset in batches, reshuffled reproducibly every epoch, optionally
// preparing the next batch on a background thread while the current one is used.
//
//   DataLoader loader(dataset, {.batch_size = 64, .shuffle = true, .seed = 1});
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const Example& batch : loader) train_step(batch.input, batch.target);
#include <cstdint>
#include <iterator>
#include <memory>
#include <vector>

#include "data/dataset.h"

namespace mixgrad::data {

struct DataLoaderOptions {
  int64_t batch_size = 1;
  bool shuffle = false;    // a new random order every epoch
  bool drop_last = false;  // skip the final batch when it is smaller than batch_size
  uint64_t seed = 0;       // with the epoch number, fixes the shuffled order
  bool prefetch = false;   // build the next batch on a worker thread
  // Data-parallel training: each batch holds only part shard_index of shard_count nearly equal
  // parts of its rows (processes with the same seed split every batch between them; batch
  // counts and order are those of the whole batches).
  int shard_index = 0;
  int shard_count = 1;
};

namespace internal {
class Epoch;
}

class DataLoader {
 public:
  // One pass over the dataset. Move-only; destroying it (say, on `break`) stops and joins the
  // prefetch worker. It owns what it reads (the dataset is shared), so it stays valid even if
  // the DataLoader is destroyed first.
  class Iterator {
   public:
    using iterator_concept = std::input_iterator_tag;
    using iterator_category = std::input_iterator_tag;
    using value_type = Example;
    using difference_type = std::ptrdiff_t;
    using reference = const Example&;
    using pointer = const Example*;

    Iterator();
    Iterator(Iterator&&) noexcept;
    Iterator& operator=(Iterator&&) noexcept;
    ~Iterator();

    // The current batch; throws mixgrad::Error at the end.
    const Example& operator*() const;
    const Example* operator->() const { return &**this; }
    // Moves to the next batch. An exception thrown while making it (by the dataset, on the
    // worker thread too) is rethrown here, unchanged, and ends the pass.
    Iterator& operator++();
    void operator++(int) { ++*this; }
    friend bool operator==(const Iterator& it, std::default_sentinel_t) { return it.at_end(); }

   private:
    friend class DataLoader;
    explicit Iterator(std::unique_ptr<internal::Epoch> epoch);
    bool at_end() const;
    std::unique_ptr<internal::Epoch> epoch_;
  };

  // Throws mixgrad::Error for a null or empty dataset, batch_size < 1, or drop_last with fewer
  // examples than one batch (which would yield nothing).
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});

  // Starts the next epoch (see epoch()) and returns its first batch's iterator. Batches are
  // built under NoGradGuard, on whichever thread makes them: they are data, never graph nodes.
  // Rethrows an exception from making the first batch.
  Iterator begin();
  std::default_sentinel_t end() const { return {}; }

  // Batches per epoch.
  int64_t size() const { return num_batches_; }
  // The epoch the next begin() starts (0 for a new loader); set_epoch resumes from a given one.
  int64_t epoch() const { return epoch_; }
  void set_epoch(int64_t epoch);
  // The dataset indices epoch `epoch` visits, in order: 0..N-1 without shuffle, else a random
  // permutation that depends only on (options().seed, epoch).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

  const Dataset& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return options_; }

 private:
  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  int64_t dataset_size_ = 0;
  int64_t num_batches_ = 0;
  int64_t epoch_ = 0;
};

}  // namespace mixgrad::data
