#include "data/dataloader.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <stdexcept>
#include <thread>

#include "common/test_util.h"

namespace mg = mixgrad;
using mg::Tensor;
using mg::data::DataLoader;
using mg::data::DataLoaderOptions;
using mg::data::Example;
using mg::testing::expect_values;

namespace {

// n examples: input row i is [2i, 2i + 1] (float32), target i (int64).
std::shared_ptr<mg::data::TensorDataset> numbered(int64_t n) {
  return std::make_shared<mg::data::TensorDataset>(
      mg::arange(0, 2 * n).view({n, 2}).to(mg::kFloat32), mg::arange(0, n));
}

// The targets of every batch of one epoch, concatenated: the dataset indices in visiting order.
std::vector<int64_t> visit_order(DataLoader& loader) {
  std::vector<int64_t> order;
  for (const Example& batch : loader) {
    const auto t = batch.target.to_vector<int64_t>();
    order.insert(order.end(), t.begin(), t.end());
  }
  return order;
}

// Throws `Exception` from get() for example `bad`; optionally slow, to keep a worker busy.
template <class Exception>
class FailingDataset : public mg::data::Dataset {
 public:
  FailingDataset(int64_t n, int64_t bad, int delay_ms = 0)
      : n_(n), bad_(bad), delay_ms_(delay_ms) {}
  int64_t size() const override { return n_; }
  Example get(int64_t i) const override {
    if (delay_ms_) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    if (i == bad_)
      throw Exception("FailingDataset::get", "example " + std::to_string(i) + " is corrupt");
    return {mg::full({1}, static_cast<double>(i)), Tensor()};
  }

 private:
  int64_t n_, bad_;
  int delay_ms_;
};

// std::out_of_range has no two-argument constructor; this one does, like mixgrad::Error.
struct OutOfRange : std::out_of_range {
  OutOfRange(const std::string& op, const std::string& detail)
      : std::out_of_range(op + ": " + detail) {}
};

}  // namespace

TEST(DataLoader, BatchCountAndLastPartialBatch) {
  const auto ds = numbered(10);
  DataLoader loader(ds, {.batch_size = 3});
  EXPECT_EQ(loader.size(), 4);
  std::vector<mg::Shape> shapes;
  for (const Example& b : loader) shapes.push_back(b.input.shape());
  EXPECT_EQ(shapes, (std::vector<mg::Shape>{{3, 2}, {3, 2}, {3, 2}, {1, 2}}));
  DataLoader dropping(ds, {.batch_size = 3, .drop_last = true});
  EXPECT_EQ(dropping.size(), 3);
  shapes.clear();
  for (const Example& b : dropping) shapes.push_back(b.input.shape());
  EXPECT_EQ(shapes, (std::vector<mg::Shape>{{3, 2}, {3, 2}, {3, 2}}));
  // Exact multiples: nothing to drop.
  EXPECT_EQ(DataLoader(ds, {.batch_size = 5, .drop_last = true}).size(), 2);
  EXPECT_EQ(DataLoader(ds, {.batch_size = 5}).size(), 2);
  EXPECT_EQ(DataLoader(ds, {.batch_size = 64}).size(), 1);
}

TEST(DataLoader, WithoutShuffleIsSequential) {
  DataLoader loader(numbered(5), {.batch_size = 2});
  std::vector<int64_t> expected{0, 1, 2, 3, 4};
  EXPECT_EQ(visit_order(loader), expected);
  EXPECT_EQ(visit_order(loader), expected);  // every epoch
  auto it = loader.begin();
  expect_values(it->input, {2, 2}, {0, 1, 2, 3});
  EXPECT_EQ(loader.epoch_order(5), expected);
}

TEST(DataLoader, ShuffleIsAPermutationPerEpochReproducibleFromSeedAndEpoch) {
  const auto ds = numbered(23);
  DataLoader loader(ds, {.batch_size = 4, .shuffle = true, .seed = 42});
  const std::vector<int64_t> epoch0 = visit_order(loader), epoch1 = visit_order(loader);
  EXPECT_EQ(loader.epoch(), 2);
  std::vector<int64_t> all(23);
  std::iota(all.begin(), all.end(), 0);
  for (const auto& order : {epoch0, epoch1}) {
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, all);  // every index exactly once
  }
  EXPECT_NE(epoch0, epoch1);
  EXPECT_NE(epoch0, all);
  EXPECT_EQ(loader.epoch_order(0), epoch0);
  EXPECT_EQ(loader.epoch_order(1), epoch1);
  // Same seed: same orders; resuming at epoch 1 gives epoch 1's order.
  DataLoader again(ds, {.batch_size = 5, .shuffle = true, .seed = 42});
  EXPECT_EQ(visit_order(again), epoch0);
  DataLoader resumed(ds, {.batch_size = 4, .shuffle = true, .seed = 42});
  resumed.set_epoch(1);
  EXPECT_EQ(visit_order(resumed), epoch1);
  // Another seed: another order.
  DataLoader other(ds, {.batch_size = 4, .shuffle = true, .seed = 43});
  EXPECT_NE(visit_order(other), epoch0);
  EXPECT_MG_ERROR(loader.set_epoch(-1), "epoch must be non-negative");
}

TEST(DataLoader, PrefetchGivesTheSameBatches) {
  const auto ds = numbered(17);
  DataLoader plain(ds, {.batch_size = 3, .shuffle = true, .seed = 5});
  DataLoader prefetching(ds, {.batch_size = 3, .shuffle = true, .seed = 5, .prefetch = true});
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<Example> a, b;
    for (const Example& batch : plain) a.push_back(batch);
    for (const Example& batch : prefetching) b.push_back(batch);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].input.to_vector<float>(), b[i].input.to_vector<float>()) << "batch " << i;
      EXPECT_EQ(a[i].target.to_vector<int64_t>(), b[i].target.to_vector<int64_t>());
    }
  }
}

TEST(DataLoader, ShardsSplitEveryBatchBetweenProcesses) {
  // Two processes with the same seed: together their shards are the whole batches, in order.
  const auto ds = numbered(17);
  std::vector<std::vector<Example>> shards(2);
  for (int i = 0; i < 2; ++i) {
    DataLoader loader(ds, {.batch_size = 5,
                           .shuffle = true,
                           .seed = 4,
                           .prefetch = i == 1,
                           .shard_index = i,
                           .shard_count = 2});
    EXPECT_EQ(loader.size(), 4);
    for (const Example& batch : loader) shards[i].push_back(batch);
  }
  DataLoader whole(ds, {.batch_size = 5, .shuffle = true, .seed = 4});
  size_t k = 0;
  for (const Example& batch : whole) {
    std::vector<int64_t> joined;
    for (int i = 0; i < 2; ++i) {
      const auto part = shards[i][k].target.to_vector<int64_t>();
      const int64_t rows = k < 3 ? 5 : 2;  // 5 rows as 2 + 3, the last batch's 2 as 1 + 1
      EXPECT_EQ(static_cast<int64_t>(part.size()), rows * (i + 1) / 2 - rows * i / 2);
      joined.insert(joined.end(), part.begin(), part.end());
    }
    EXPECT_EQ(joined, batch.target.to_vector<int64_t>()) << "batch " << k;
    ++k;
  }
  EXPECT_MG_ERROR(DataLoader(ds, {.shard_index = 3, .shard_count = 3}), "shard_index");
  EXPECT_MG_ERROR(DataLoader(ds, {.shard_count = 0}), "shard_count");
  // The last batch (2 examples) cannot give 3 shards a row each.
  EXPECT_MG_ERROR(DataLoader(ds, {.batch_size = 5, .shard_count = 3}), "too few for 3 shards");
  DataLoader dropped(ds, {.batch_size = 5, .drop_last = true, .shard_count = 3});
  EXPECT_EQ(dropped.size(), 3);
}

TEST(DataLoader, BatchesCarryNoAutogradHistoryOnAnyThread) {
  auto ds = std::make_shared<mg::data::TensorDataset>(mg::ones({4, 2}).requires_grad_());
  for (bool prefetch : {false, true}) {
    DataLoader loader(ds, {.batch_size = 2, .prefetch = prefetch});
    for (const Example& b : loader) {
      EXPECT_FALSE(b.input.requires_grad()) << "prefetch " << prefetch;
      EXPECT_EQ(b.input.grad_fn(), nullptr);
    }
  }
  EXPECT_TRUE(mg::GradMode::is_enabled());
}

TEST(DataLoader, EarlyBreakAndDestroyedLoaderWithPrefetchDoNotHang) {
  const auto ds = numbered(50);
  DataLoader loader(ds, {.batch_size = 2, .prefetch = true});
  for (int epoch = 0; epoch < 3; ++epoch) {
    int seen = 0;
    for (const Example& b : loader) {
      expect_values(b.target, {2}, {0, 1});
      if (++seen == 1) break;  // the worker is blocked on a full slot or building a batch
    }
  }
  // A worker that is still building a (slow) batch when the loop ends is waited for.
  auto slow = std::make_shared<FailingDataset<mg::Error>>(6, -1, 5);
  DataLoader slow_loader(slow, {.batch_size = 1, .prefetch = true});
  for (const Example& b : slow_loader) {
    (void)b;
    break;
  }
  // The iterator owns its pass: it outlives the loader that made it.
  DataLoader::Iterator it;
  {
    DataLoader short_lived(ds, {.batch_size = 20, .prefetch = true});
    it = short_lived.begin();
  }
  int batches = 0;
  for (; it != std::default_sentinel; ++it) ++batches;
  EXPECT_EQ(batches, 3);
  EXPECT_MG_ERROR(*it, "dereferenced past the last batch");
  EXPECT_MG_ERROR(++it, "incremented past the last batch");
}

TEST(DataLoader, DatasetExceptionsSurfaceAtTheirBatchUnchanged) {
  for (bool prefetch : {false, true}) {
    SCOPED_TRACE(prefetch ? "prefetch" : "no prefetch");
    DataLoader loader(std::make_shared<FailingDataset<mg::Error>>(10, 7),
                      {.batch_size = 2, .prefetch = prefetch});
    int batches = 0;
    try {
      for (const Example& b : loader) {
        expect_values(b.input, {2, 1}, {2.0 * batches, 2.0 * batches + 1});
        ++batches;
      }
      ADD_FAILURE() << "no exception";
    } catch (const mg::Error& e) {
      EXPECT_EQ(e.op(), "FailingDataset::get");
      EXPECT_STREQ(e.what(), "FailingDataset::get: example 7 is corrupt");
    }
    EXPECT_EQ(batches, 3);  // batches 0-2 arrive; batch 3 holds example 7
    // A failing first batch throws from begin(); other exception types keep their type.
    DataLoader first(std::make_shared<FailingDataset<OutOfRange>>(4, 0),
                     {.batch_size = 2, .prefetch = prefetch});
    EXPECT_THROW(first.begin(), OutOfRange);
    // The loader itself stays usable.
    EXPECT_THROW(visit_order(loader), mg::Error);
  }
}

TEST(DataLoader, RejectsBadOptionsAndEmptyDatasets) {
  const auto ds = numbered(4);
  EXPECT_MG_ERROR(DataLoader(ds, {.batch_size = 0}), "batch_size must be at least 1, got 0");
  EXPECT_MG_ERROR(DataLoader(ds, {.batch_size = -3}), "batch_size must be at least 1, got -3");
  EXPECT_MG_ERROR(DataLoader(nullptr), "the dataset is null");
  EXPECT_MG_ERROR(DataLoader(std::make_shared<mg::data::TensorDataset>(mg::zeros({0, 2}))),
                  "the dataset is empty");
  EXPECT_MG_ERROR(DataLoader(ds, {.batch_size = 5, .drop_last = true}),
                  "drop_last with 4 examples and batch_size 5 would yield no batches");
}
