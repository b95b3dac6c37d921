#include "data/dataset.h"

#include <algorithm>
#include <set>

#include "common/test_util.h"

namespace mg = mixgrad;
using mg::Tensor;
using mg::data::Example;
using mg::testing::expect_values;

namespace {

// Example i: input [i, 10 i] (float), target i (int64), or no target when unlabelled.
class PairDataset : public mg::data::Dataset {
 public:
  explicit PairDataset(int64_t n, bool labelled = true) : n_(n), labelled_(labelled) {}
  int64_t size() const override { return n_; }
  Example get(int64_t i) const override {
    mg::data::check_example_index("PairDataset::get", i, n_);
    return {mg::tensor({static_cast<float>(i), 10.0f * i}),
            labelled_ ? mg::scalar_tensor(i, mg::kInt64) : Tensor()};
  }

 private:
  int64_t n_;
  bool labelled_;
};

// Example i has i + 1 values, or a target only for even i: neither can be stacked.
class UnevenDataset : public mg::data::Dataset {
 public:
  int64_t size() const override { return 4; }
  Example get(int64_t i) const override {
    return {mg::ones({i % 2 ? 2 : 1}), i < 2 ? mg::scalar_tensor(1) : Tensor()};
  }
};

mg::data::TensorDataset numbered(int64_t n) {
  return mg::data::TensorDataset(mg::arange(0, 2 * n).view({n, 2}).to(mg::kFloat32),
                                 mg::arange(0, n));
}

}  // namespace

TEST(TensorDataset, IndexesDimZero) {
  const auto ds = numbered(4);
  EXPECT_EQ(ds.size(), 4);
  const Example e = ds.get(2);
  expect_values(e.input, {2}, {4, 5});
  expect_values(e.target, {}, {2});
  const Example b = ds.get_batch({3, 0, 3});
  expect_values(b.input, {3, 2}, {6, 7, 0, 1, 6, 7});
  expect_values(b.target, {3}, {3, 0, 3});
  EXPECT_MG_ERROR(ds.get(4), "index 4 is out of range for a dataset of size 4");
  EXPECT_MG_ERROR(ds.get(-1), "index -1 is out of range for a dataset of size 4");
  EXPECT_MG_ERROR(ds.get_batch({0, 7}), "TensorDataset::get_batch: index 7 is out of range");
  EXPECT_MG_ERROR(ds.get_batch({}), "expected at least one index");
}

TEST(TensorDataset, WithoutTargetsAndConstructorChecks) {
  const mg::data::TensorDataset ds(mg::arange(0, 3));
  EXPECT_FALSE(ds.get(1).target.defined());
  const Example b = ds.get_batch({2, 1});
  expect_values(b.input, {2}, {2, 1});
  EXPECT_FALSE(b.target.defined());
  EXPECT_MG_ERROR(mg::data::TensorDataset(mg::zeros({3, 2}), mg::zeros({4})),
                  "inputs have 3 examples (shape [3, 2]) but targets have 4 (shape [4])");
  EXPECT_MG_ERROR(mg::data::TensorDataset{Tensor()}, "inputs are undefined");
  EXPECT_MG_ERROR(mg::data::TensorDataset(mg::scalar_tensor(1.0)), "0-dim");
}

TEST(Dataset, DefaultGetBatchStacksExamples) {
  const PairDataset ds(5);
  const Example b = ds.get_batch({4, 1});
  expect_values(b.input, {2, 2}, {4, 40, 1, 10});
  expect_values(b.target, {2}, {4, 1});
  EXPECT_EQ(b.target.dtype(), mg::kInt64);
  EXPECT_FALSE(PairDataset(3, false).get_batch({0, 2}).target.defined());
  EXPECT_MG_ERROR(ds.get_batch({1, 5}), "index 5 is out of range for a dataset of size 5");
  EXPECT_MG_ERROR(ds.get_batch({}), "expected at least one index");
  const UnevenDataset uneven;
  EXPECT_MG_ERROR(uneven.get_batch({0, 1}),
                  "the input of example 1 is float32[2] on cpu but that of example 0 is "
                  "float32[1] on cpu");
  EXPECT_MG_ERROR(uneven.get_batch({0, 2}),
                  "the target of example 2 is undefined but that of example 0 is defined");
}

TEST(Subset, MapsIndicesAndKeepsTheFastPath) {
  auto base = std::make_shared<mg::data::TensorDataset>(numbered(5));
  const mg::data::Subset subset(base, {4, 0, 2});
  EXPECT_EQ(subset.size(), 3);
  expect_values(subset.get(0).input, {2}, {8, 9});
  expect_values(subset.get_batch({2, 1}).target, {2}, {2, 0});
  EXPECT_MG_ERROR(subset.get(3), "Subset::get: index 3 is out of range for a dataset of size 3");
  EXPECT_MG_ERROR(subset.get_batch({0, -1}), "index -1 is out of range");
  EXPECT_MG_ERROR(mg::data::Subset(base, {5}), "Subset: index 5 is out of range");
  EXPECT_MG_ERROR(mg::data::Subset(nullptr, {}), "the dataset is null");
}

TEST(RandomSplit, DisjointCoverReproducibleFromTheGenerator) {
  auto base = std::make_shared<mg::data::TensorDataset>(numbered(10));
  mg::Generator gen(7);
  const auto parts = mg::data::random_split(base, {6, 0, 4}, gen);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0]->size(), 6);
  EXPECT_EQ(parts[1]->size(), 0);
  EXPECT_EQ(parts[2]->size(), 4);
  std::vector<int64_t> all = parts[0]->indices();
  all.insert(all.end(), parts[2]->indices().begin(), parts[2]->indices().end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  mg::Generator same(7);
  EXPECT_EQ(mg::data::random_split(base, {6, 0, 4}, same)[0]->indices(), parts[0]->indices());
  EXPECT_MG_ERROR(mg::data::random_split(base, {6, 3}, gen),
                  "sizes [6, 3] add up to 9, not to the dataset size 10");
  EXPECT_MG_ERROR(mg::data::random_split(base, {11, -1}, gen), "sizes must be non-negative");
}
