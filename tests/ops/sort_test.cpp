// Sorting and selection: sort, argsort, topk. Values against hand-worked orders and a brute-force
// reference, every dim, strided inputs, ties, NaN, edge sizes, errors and gradients.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "common/test_util.h"

namespace mixgrad {
namespace {

using testing::expect_values;
using testing::grad_input;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void expect_selection(const ValuesIndices& r, const Shape& shape, const std::vector<double>& values,
                      const std::vector<double>& indices) {
  expect_values(r.values, shape, values);
  expect_values(r.indices, shape, indices);
  EXPECT_EQ(r.indices.dtype(), kInt64);
}

// Rows of small integers (many ties) as float32, generated here with a fixed seed.
std::vector<float> tied_rows(int64_t count, int64_t seed) {
  std::mt19937 gen(static_cast<uint32_t>(seed));
  std::uniform_int_distribution<int> dist(-20, 20);
  std::vector<float> data(count);
  for (float& v : data) v = static_cast<float>(dist(gen));
  return data;
}

// Brute force top-k of each row of a [rows, n] buffer: a stable sort of the row's positions,
// so equal values keep the lower index first.
void reference_topk(const std::vector<float>& data, int64_t rows, int64_t n, int64_t k,
                    bool largest, std::vector<double>& values, std::vector<double>& indices) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = data.data() + r * n;
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return largest ? row[a] > row[b] : row[a] < row[b];
    });
    for (int64_t i = 0; i < k; ++i) {
      values.push_back(row[order[i]]);
      indices.push_back(static_cast<double>(order[i]));
    }
  }
}

void expect_topk_matches_reference(int64_t rows, int64_t n, int64_t k, bool largest) {
  SCOPED_TRACE("rows " + std::to_string(rows) + ", n " + std::to_string(n) + ", k " +
               std::to_string(k) + (largest ? ", largest" : ", smallest"));
  const std::vector<float> data = tied_rows(rows * n, rows + n + k);
  std::vector<double> values, indices;
  reference_topk(data, rows, n, k, largest, values, indices);
  auto r = mg::topk(tensor(data, Shape{rows, n}), k, 1, largest);
  expect_selection(r, {rows, k}, values, indices);
}

// ---------------------------------------------------------------- sort

TEST(Sort, AscendingAlongLastDim) {
  auto r = mg::sort(tensor({{3.0f, 1.0f, 2.0f}, {-1.0f, 5.0f, 0.0f}}));
  expect_selection(r, {2, 3}, {1, 2, 3, -1, 0, 5}, {1, 2, 0, 0, 2, 1});
  EXPECT_EQ(r.values.dtype(), kFloat32);
}

TEST(Sort, Descending) {
  auto r = mg::sort(tensor({3.0, 1.0, 2.0, 7.0}), -1, /*descending=*/true);
  expect_selection(r, {4}, {7, 3, 2, 1}, {3, 0, 2, 1});
}

TEST(Sort, AlongDimZeroAndNegativeDims) {
  Tensor x = tensor({{3.0, 1.0, 2.0}, {-1.0, 5.0, 2.5}});
  const std::vector<double> by_col_values{-1, 1, 2, 3, 5, 2.5};
  const std::vector<double> by_col_indices{1, 0, 0, 0, 1, 1};
  expect_selection(mg::sort(x, 0), {2, 3}, by_col_values, by_col_indices);
  expect_selection(mg::sort(x, -2), {2, 3}, by_col_values, by_col_indices);
  expect_selection(mg::sort(x, 1), {2, 3}, {1, 2, 3, -1, 2.5, 5}, {1, 2, 0, 0, 2, 1});
}

TEST(Sort, MiddleDimOfThreeDims) {
  // x[i][j][k] with the middle dim holding {5, 1, 3} scaled per (i, k).
  Tensor x =
      tensor(std::vector<double>{5, 50, 1, 10, 3, 30, -5, -50, -1, -10, -3, -30}, Shape{2, 3, 2});
  expect_selection(mg::sort(x, 1), {2, 3, 2}, {1, 10, 3, 30, 5, 50, -5, -50, -3, -30, -1, -10},
                   {1, 1, 2, 2, 0, 0, 0, 0, 2, 2, 1, 1});
}

TEST(Sort, StableKeepsInputOrderOfTies) {
  Tensor x = tensor({2, 1, 2, 1, 2});
  expect_selection(mg::sort(x, 0, false, /*stable=*/true), {5}, {1, 1, 2, 2, 2}, {1, 3, 0, 2, 4});
  expect_selection(mg::sort(x, 0, true, /*stable=*/true), {5}, {2, 2, 2, 1, 1}, {0, 2, 4, 1, 3});
}

TEST(Sort, NaNSortsAsLargest) {
  Tensor x = tensor({3.0, kNaN, 1.0, kNaN, 2.0});
  expect_selection(mg::sort(x, 0, false, true), {5}, {1, 2, 3, kNaN, kNaN}, {2, 4, 0, 1, 3});
  expect_selection(mg::sort(x, 0, true, true), {5}, {kNaN, kNaN, 3, 2, 1}, {1, 3, 0, 4, 2});
}

TEST(Sort, NonContiguousInput) {
  Tensor base = tensor({{4.0f, 9.0f}, {2.0f, 7.0f}, {6.0f, 8.0f}});  // [3, 2]
  Tensor x = base.t();                                               // [2, 3], strided rows
  ASSERT_FALSE(x.is_contiguous());
  expect_selection(mg::sort(x, 1), {2, 3}, {2, 4, 6, 7, 8, 9}, {1, 0, 2, 1, 2, 0});
  expect_selection(mg::sort(x, 0, true), {2, 3}, {9, 7, 8, 4, 2, 6}, {1, 1, 1, 0, 0, 0});
}

TEST(Sort, IntegerAndBoolKeepTheirDtype) {
  auto ri = mg::sort(tensor<int32_t>({5, -2, 9, 0}));
  EXPECT_EQ(ri.values.dtype(), kInt32);
  expect_selection(ri, {4}, {-2, 0, 5, 9}, {1, 3, 0, 2});
  auto rb = mg::sort(tensor({true, false, true, false}), 0, false, true);
  EXPECT_EQ(rb.values.dtype(), kBool);
  expect_selection(rb, {4}, {0, 0, 1, 1}, {1, 3, 0, 2});
}

TEST(Sort, ZeroDimAndEmptyInputs) {
  auto r0 = mg::sort(tensor(std::vector<double>{4.5}, Shape{}));
  expect_selection(r0, {}, {4.5}, {0});
  auto re = mg::sort(zeros({2, 0}), 1);
  expect_selection(re, {2, 0}, {}, {});
  auto rows_empty = mg::sort(zeros({0, 3}), 1);
  expect_selection(rows_empty, {0, 3}, {}, {});
}

TEST(Sort, RowsOfLengthOne) {
  expect_selection(mg::sort(tensor({{3.0}, {-1.0}}), 1), {2, 1}, {3, -1}, {0, 0});
}

TEST(Sort, ManyLongRowsAgreeWithStableSort) {
  // Enough rows to be split across threads; integer values make many ties.
  const int64_t rows = 64, n = 1024;
  const std::vector<float> data = tied_rows(rows * n, 7);
  std::vector<double> values, indices;
  reference_topk(data, rows, n, n, /*largest=*/false, values, indices);
  expect_selection(mg::sort(tensor(data, Shape{rows, n}), 1), {rows, n}, values, indices);
}

TEST(Sort, ArgsortGivesTheSortingPermutation) {
  Tensor x = tensor({{0.5, -2.0, 3.0}, {1.0, 1.5, 0.0}});
  expect_values(mg::argsort(x), {2, 3}, {1, 0, 2, 2, 0, 1});
  expect_values(mg::argsort(x, 1, /*descending=*/true), {2, 3}, {2, 0, 1, 1, 0, 2});
  expect_values(mg::argsort(x, 0), {2, 3}, {0, 0, 1, 1, 1, 0});
  Tensor a = mg::argsort(tensor(std::vector<double>{1.0}, Shape{}));
  EXPECT_EQ(a.dtype(), kInt64);
  expect_values(a, {}, {0});
}

TEST(Sort, ArgsortDoesNotRecordGradients) {
  Tensor x = grad_input({4});
  EXPECT_FALSE(mg::argsort(x).requires_grad());
}

TEST(Sort, ErrorsNameTheOp) {
  Tensor x = zeros({2, 3});
  EXPECT_MG_ERROR(mg::sort(x, 2), "sort");
  EXPECT_MG_ERROR(mg::sort(x, -3), "sort");
  EXPECT_MG_ERROR(mg::argsort(x, 5), "argsort");
  EXPECT_MG_ERROR(mg::sort(Tensor()), "undefined");
}

TEST(Sort, GradientGoesBackToOriginalPositions) {
  Tensor x = tensor({3.0, 1.0, 2.0}).requires_grad_();
  (mg::sort(x).values * tensor({1.0, 2.0, 3.0})).sum().backward();
  // Sorted order is x[1], x[2], x[0], weighted 1, 2, 3.
  expect_values(x.grad(), {3}, {3, 1, 2});
}

TEST(Sort, GradcheckValuesEveryDim) {
  for (int64_t dim : {0, 1, -1}) {
    for (bool descending : {false, true}) {
      auto fn = [dim, descending](const std::vector<Tensor>& in) {
        return mg::sort(in[0], dim, descending).values;
      };
      std::vector<Tensor> inputs{grad_input({3, 4}, 11)};
      EXPECT_GRADCHECK(fn, inputs);
    }
  }
}

TEST(Sort, GradcheckStridedInput) {
  auto fn = [](const std::vector<Tensor>& in) { return mg::sort(in[0].t(), 1).values; };
  std::vector<Tensor> inputs{grad_input({4, 3}, 12)};
  EXPECT_GRADCHECK(fn, inputs);
}

// ---------------------------------------------------------------- topk

TEST(Topk, LargestSorted) {
  expect_selection(mg::topk(tensor({1.0f, 5.0f, 3.0f, 4.0f, 2.0f}), 3), {3}, {5, 4, 3}, {1, 3, 2});
}

TEST(Topk, Smallest) {
  expect_selection(mg::topk(tensor({1.0, 5.0, 3.0, 4.0, 2.0}), 2, -1, /*largest=*/false), {2},
                   {1, 2}, {0, 4});
}

TEST(Topk, TiesKeepLowerIndexFirst) {
  expect_selection(mg::topk(tensor({1.0, 3.0, 3.0, 2.0, 3.0}), 2), {2}, {3, 3}, {1, 2});
  expect_selection(mg::topk(tensor({2.0, 1.0, 1.0, 1.0}), 2, 0, false), {2}, {1, 1}, {1, 2});
  // All equal and k past the small-k path: positions in order.
  auto r = mg::topk(zeros({40}), 20);
  std::vector<double> first20(20);
  std::iota(first20.begin(), first20.end(), 0.0);
  expect_selection(r, {20}, std::vector<double>(20, 0.0), first20);
}

TEST(Topk, KZeroAndKEqualToSize) {
  Tensor x = tensor({{4.0, 1.0, 3.0}, {0.0, 2.0, -1.0}});
  expect_selection(mg::topk(x, 0), {2, 0}, {}, {});
  expect_selection(mg::topk(x, 0, 0), {0, 3}, {}, {});
  expect_selection(mg::topk(x, 3), {2, 3}, {4, 3, 1, 2, 0, -1}, {0, 2, 1, 1, 0, 2});
  expect_selection(mg::topk(x, 2, 0, false), {2, 3}, {0, 1, -1, 4, 2, 3}, {1, 0, 1, 0, 1, 0});
}

TEST(Topk, EveryDimIncludingNegative) {
  Tensor x = tensor({{4.0, 1.0, 3.0}, {0.0, 2.0, -1.0}});
  const std::vector<double> col_values{4, 2, 3}, col_indices{0, 1, 0};
  expect_selection(mg::topk(x, 1, 0), {1, 3}, col_values, col_indices);
  expect_selection(mg::topk(x, 1, -2), {1, 3}, col_values, col_indices);
  expect_selection(mg::topk(x, 2, 1), {2, 2}, {4, 3, 2, 0}, {0, 2, 1, 0});
  expect_selection(mg::topk(x, 2, -1), {2, 2}, {4, 3, 2, 0}, {0, 2, 1, 0});
}

TEST(Topk, NonContiguousInput) {
  Tensor base = tensor({{4.0f, 9.0f}, {2.0f, 7.0f}, {6.0f, 8.0f}});  // [3, 2]
  Tensor x = base.t();                                               // [2, 3]: rows stride 2
  expect_selection(mg::topk(x, 2, 1), {2, 2}, {6, 4, 9, 8}, {2, 0, 0, 2});
  expect_selection(mg::topk(x, 1, 0, false), {1, 3}, {4, 2, 6}, {0, 0, 0});
}

TEST(Topk, UnsortedSelectsTheSameSet) {
  // Long rows and k > 16 so the selection path (not the small-k scan) runs.
  const int64_t n = 100, k = 30;
  std::vector<double> data(n);
  for (int64_t i = 0; i < n; ++i) data[i] = static_cast<double>((i * 37) % n);  // a permutation
  auto r = mg::topk(tensor(data), k, 0, true, /*sorted=*/false);
  std::vector<double> values = r.values.to_vector<double>();
  std::vector<int64_t> indices = r.indices.to_vector<int64_t>();
  ASSERT_EQ(static_cast<int64_t>(values.size()), k);
  for (int64_t i = 0; i < k; ++i) EXPECT_EQ(values[i], data[indices[i]]);
  std::sort(values.begin(), values.end());
  for (int64_t i = 0; i < k; ++i) EXPECT_EQ(values[i], static_cast<double>(n - k + i));
}

TEST(Topk, NaNCountsAsLargest) {
  Tensor x = tensor({1.0, kNaN, 3.0, 2.0});
  expect_selection(mg::topk(x, 2), {2}, {kNaN, 3}, {1, 2});
  expect_selection(mg::topk(x, 2, 0, false), {2}, {1, 2}, {0, 3});
  expect_selection(mg::topk(tensor({kNaN, 1.0, kNaN}), 2), {2}, {kNaN, kNaN}, {0, 2});
}

TEST(Topk, SmallKPathMatchesReferenceOnGatingShapes) {
  // Mixture-of-experts gating: many short rows, k of 1..8.
  for (int64_t n : {8, 64, 256})
    for (int64_t k : {1, 2, 8}) expect_topk_matches_reference(300, n, k, true);
  expect_topk_matches_reference(50, 16, 3, false);
}

TEST(Topk, SelectionPathMatchesReference) {
  expect_topk_matches_reference(20, 64, 20, true);  // nth_element then sort
  expect_topk_matches_reference(20, 64, 40, false);
  expect_topk_matches_reference(4, 2000, 20, true);  // partial_sort (k small vs the row)
  expect_topk_matches_reference(4, 2000, 25, false);
}

TEST(Topk, IntegerDtype) {
  auto r = mg::topk(tensor<int64_t>({7, -3, 12, 7}), 2);
  EXPECT_EQ(r.values.dtype(), kInt64);
  expect_selection(r, {2}, {12, 7}, {2, 0});
}

TEST(Topk, ZeroDimInput) {
  Tensor x = tensor(std::vector<double>{2.5}, Shape{});
  expect_selection(mg::topk(x, 1), {}, {2.5}, {0});
  expect_selection(mg::topk(x, 0), {0}, {}, {});
}

TEST(Topk, ErrorsNameTheOpAndTheBadValue) {
  Tensor x = zeros({2, 3});
  EXPECT_MG_ERROR(mg::topk(x, 4), "k = 4 is out of range [0, 3]");
  EXPECT_MG_ERROR(mg::topk(x, -1), "k = -1 is out of range");
  EXPECT_MG_ERROR(mg::topk(x, 3, 0), "out of range [0, 2]");
  EXPECT_MG_ERROR(mg::topk(x, 1, 2), "topk");
  EXPECT_MG_ERROR(mg::topk(tensor({true, false}), 1), "bool");
  EXPECT_MG_ERROR(mg::topk(Tensor(), 1), "undefined");
}

TEST(Topk, GradientScattersToSelectedPositions) {
  Tensor x = tensor({{1.0, 5.0, 3.0}, {6.0, 0.0, 2.0}}).requires_grad_();
  (mg::topk(x, 2).values * tensor({{10.0, 20.0}, {30.0, 40.0}})).sum().backward();
  expect_values(x.grad(), {2, 3}, {0, 10, 20, 30, 0, 40});
}

TEST(Topk, GradientOfSumReachesOnlySelectedPositions) {
  // The incoming gradient of a sum is expanded (stride 0).
  Tensor x = tensor({{1.0, 5.0, 3.0, 4.0}}).requires_grad_();
  mg::topk(x, 2, 1, false).values.sum().backward();
  expect_values(x.grad(), {1, 4}, {1, 0, 1, 0});
}

TEST(Topk, GradientOfZeroDimInput) {
  Tensor x = tensor(std::vector<double>{2.0}, Shape{}).requires_grad_();
  (mg::topk(x, 1).values * 3.0).backward();
  expect_values(x.grad(), {}, {3});
}

TEST(Topk, GradcheckValuesEveryDim) {
  for (int64_t dim : {0, 1, -1}) {
    for (bool largest : {true, false}) {
      auto fn = [dim, largest](const std::vector<Tensor>& in) {
        return mg::topk(in[0], 2, dim, largest).values;
      };
      std::vector<Tensor> inputs{grad_input({3, 4}, 21)};
      EXPECT_GRADCHECK(fn, inputs);
    }
  }
}

TEST(Topk, GradcheckStridedAndUnsorted) {
  auto fn = [](const std::vector<Tensor>& in) {
    return mg::topk(in[0].t(), 2, 1, true, /*sorted=*/false).values;
  };
  std::vector<Tensor> inputs{grad_input({5, 3}, 22)};
  EXPECT_GRADCHECK(fn, inputs);
}

}  // namespace
}  // namespace mixgrad
