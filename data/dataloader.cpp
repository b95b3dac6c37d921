#include "data/dataloader.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <numeric>
#include <optional>
#include <thread>

#include "core/generator.h"
#include "core/grad_mode.h"
#include "ops/creation.h"

namespace mixgrad::data {

namespace internal {

namespace {

// Runs produce(0), produce(1), ... produce(count - 1) on a worker thread, one batch ahead of
// the consumer: the slot holds at most one finished batch, so at most two batches (the one in
// use and the next) exist at a time.
class Prefetcher {
 public:
  Prefetcher(std::function<Example(int64_t)> produce, int64_t count)
      : produce_(std::move(produce)), count_(count), worker_([this] { run(); }) {}

  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    slot_changed_.notify_all();
    worker_.join();  // the worker finishes at most the batch it is building
  }

  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // The next batch, waiting for the worker when it is not ready; rethrows what the worker
  // caught while making it. Call at most `count` times (the worker stops after an error).
  Example take() {
    std::unique_lock<std::mutex> lock(mutex_);
    slot_changed_.wait(lock, [&] { return slot_.has_value(); });
    Result result = std::move(*slot_);
    slot_.reset();
    lock.unlock();
    slot_changed_.notify_all();
    if (result.error) std::rethrow_exception(result.error);
    return std::move(result.batch);
  }

 private:
  struct Result {
    Example batch;
    std::exception_ptr error;
  };

  void run() {
    for (int64_t k = 0; k < count_; ++k) {
      Result result;
      try {
        result.batch = produce_(k);
      } catch (...) {
        result.error = std::current_exception();
      }
      const bool failed = result.error != nullptr;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        slot_changed_.wait(lock, [&] { return !slot_.has_value() || stop_; });
        if (stop_) return;
        slot_ = std::move(result);
      }
      slot_changed_.notify_all();
      if (failed) return;
    }
  }

  std::function<Example(int64_t)> produce_;
  int64_t count_;
  std::mutex mutex_;
  std::condition_variable slot_changed_;
  std::optional<Result> slot_;
  bool stop_ = false;
  std::thread worker_;  // last: starts once everything it uses exists
};

}  // namespace

// One pass over the dataset in a fixed order: the batch handed out now, and how to make the
// next (directly, or by taking it from the prefetch worker).
class Epoch {
 public:
  Epoch(std::shared_ptr<const Dataset> dataset, std::vector<int64_t> order, int64_t batch_size,
        int64_t num_batches, bool prefetch, int shard_index, int shard_count)
      : dataset_(std::move(dataset)),
        order_(std::move(order)),
        batch_size_(batch_size),
        num_batches_(num_batches),
        shard_index_(shard_index),
        shard_count_(shard_count) {
    if (prefetch)
      prefetcher_ =
          std::make_unique<Prefetcher>([this](int64_t k) { return make_batch(k); }, num_batches_);
    advance();
  }

  bool done() const { return done_; }
  const Example& current() const { return current_; }

  void advance() {
    if (next_ == num_batches_) {
      finish();
      return;
    }
    try {
      current_ = prefetcher_ ? prefetcher_->take() : make_batch(next_);
    } catch (...) {
      finish();
      throw;
    }
    ++next_;
  }

 private:
  // Batch k, built without recording autograd history. Grad mode is thread-local, so this
  // guard is what keeps the worker thread's batches free of graph nodes too.
  Example make_batch(int64_t k) const {
    NoGradGuard no_grad;
    const int64_t first = k * batch_size_;
    const int64_t rows = std::min(batch_size_, static_cast<int64_t>(order_.size()) - first);
    // This process's share of the batch's rows (all of them unless sharded).
    const int64_t begin = first + rows * shard_index_ / shard_count_;
    const int64_t end = first + rows * (shard_index_ + 1) / shard_count_;
    return dataset_->get_batch(std::vector<int64_t>(order_.begin() + begin, order_.begin() + end));
  }

  void finish() {
    done_ = true;
    next_ = num_batches_;
    current_ = Example();
  }

  std::shared_ptr<const Dataset> dataset_;
  std::vector<int64_t> order_;
  int64_t batch_size_;
  int64_t num_batches_;
  int64_t shard_index_, shard_count_;
  int64_t next_ = 0;  // batch that advance() hands out next
  bool done_ = false;
  Example current_;
  // Last: destroyed (worker joined) before the order and dataset it reads.
  std::unique_ptr<Prefetcher> prefetcher_;
};

}  // namespace internal

namespace {

// SplitMix64's finaliser: nearby (seed, epoch) pairs get unrelated Philox keys.
uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace

DataLoader::Iterator::Iterator() = default;
DataLoader::Iterator::Iterator(Iterator&&) noexcept = default;
DataLoader::Iterator& DataLoader::Iterator::operator=(Iterator&&) noexcept = default;
DataLoader::Iterator::~Iterator() = default;
DataLoader::Iterator::Iterator(std::unique_ptr<internal::Epoch> epoch) : epoch_(std::move(epoch)) {}

bool DataLoader::Iterator::at_end() const {
  return !epoch_ || epoch_->done();
}

const Example& DataLoader::Iterator::operator*() const {
  MG_CHECK(!at_end(), "DataLoader::Iterator", "dereferenced past the last batch");
  return epoch_->current();
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  MG_CHECK(!at_end(), "DataLoader::Iterator", "incremented past the last batch");
  epoch_->advance();
  return *this;
}

static_assert(std::input_iterator<DataLoader::Iterator>);
static_assert(std::sentinel_for<std::default_sentinel_t, DataLoader::Iterator>);

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  const char* op = "DataLoader";
  MG_CHECK(dataset_ != nullptr, op, "the dataset is null");
  MG_CHECK(options_.batch_size >= 1, op, "batch_size must be at least 1, got ",
           options_.batch_size);
  dataset_size_ = dataset_->size();
  MG_CHECK(dataset_size_ >= 1, op, "the dataset is empty");
  MG_CHECK(options_.shard_count >= 1 && options_.shard_index >= 0 &&
               options_.shard_index < options_.shard_count,
           op, "shard_index must be in [0, shard_count) and shard_count >= 1, got ",
           options_.shard_index, " of ", options_.shard_count);
  MG_CHECK(!options_.drop_last || dataset_size_ >= options_.batch_size, op, "drop_last with ",
           dataset_size_, " examples and batch_size ", options_.batch_size,
           " would yield no batches");
  // Not (size + batch - 1) / batch: that overflows for a batch_size near INT64_MAX.
  num_batches_ = dataset_size_ / options_.batch_size +
                 (!options_.drop_last && dataset_size_ % options_.batch_size != 0 ? 1 : 0);
  // Every shard of every batch must hold a row: the processes step together.
  const int64_t smallest = !options_.drop_last && dataset_size_ % options_.batch_size != 0
                               ? dataset_size_ % options_.batch_size
                               : std::min(options_.batch_size, dataset_size_);
  MG_CHECK(smallest >= options_.shard_count, op, "the smallest batch has ", smallest,
           " examples, too few for ", options_.shard_count,
           " shards to get one each (use drop_last or another batch_size)");
}

void DataLoader::set_epoch(int64_t epoch) {
  MG_CHECK(epoch >= 0, "DataLoader::set_epoch", "epoch must be non-negative, got ", epoch);
  epoch_ = epoch;
}

std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
  MG_CHECK(epoch >= 0, "DataLoader::epoch_order", "epoch must be non-negative, got ", epoch);
  if (!options_.shuffle) {
    std::vector<int64_t> order(dataset_size_);
    std::iota(order.begin(), order.end(), int64_t{0});
    return order;
  }
  Generator gen(mix64(options_.seed ^ mix64(static_cast<uint64_t>(epoch))));
  return randperm(dataset_size_, kInt64, &gen).to_vector<int64_t>();
}

DataLoader::Iterator DataLoader::begin() {
  // The epoch counts as started even if its first batch throws, so a retry gets a fresh order.
  const int64_t epoch = epoch_++;
  return Iterator(std::make_unique<internal::Epoch>(
      dataset_, epoch_order(epoch), options_.batch_size, num_batches_, options_.prefetch,
      options_.shard_index, options_.shard_count));
}

}  // namespace mixgrad::data
