// Reductions: values against hand-computed results, dims/keepdim handling, layouts, dtypes,
// errors and gradients.
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "common/test_util.h"

namespace mixgrad {
namespace {

using testing::expect_close;
using testing::expect_values;
using testing::grad_input;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// [[1, 2, 3], [4, 5, 6]] in float64.
Tensor m23() {
  return tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
}

// 0..23 as a [2, 3, 4] float64 tensor.
Tensor iota234() {
  return arange(24, kFloat64).view({2, 3, 4});
}

// gradcheck of a one-input op at a fixed random float64 point of `shape`.
void expect_gradcheck(const std::function<Tensor(const Tensor&)>& op, const Shape& shape,
                      uint64_t seed = 1) {
  auto fn = [&op](const std::vector<Tensor>& in) { return op(in[0]); };
  std::vector<Tensor> inputs{grad_input(shape, seed)};
  EXPECT_GRADCHECK(fn, inputs);
}

// gradcheck at given values (for points where a random one would miss the interesting case).
void expect_gradcheck_at(const std::function<Tensor(const Tensor&)>& op, const Tensor& x) {
  auto fn = [&op](const std::vector<Tensor>& in) { return op(in[0]); };
  std::vector<Tensor> inputs{x.detach().clone().requires_grad_()};
  EXPECT_GRADCHECK(fn, inputs);
}

// d sum(op(x) * w) / d x for a fixed float64 x and weights w.
Tensor grad_of(const std::function<Tensor(const Tensor&)>& op, const Tensor& x_value,
               const Tensor& w) {
  Tensor x = x_value.detach().clone().requires_grad_();
  (op(x) * w).sum().backward();
  return x.grad();
}

// ---------------------------------------------------------------- sum

TEST(ReduceSum, WholeTensor) {
  expect_values(m23().sum(), {}, {21.0});
  expect_values(mg::sum(m23(), {}), {}, {21.0});
}

TEST(ReduceSum, SingleDimsIncludingNegative) {
  expect_values(mg::sum(m23(), {0}), {3}, {5.0, 7.0, 9.0});
  expect_values(mg::sum(m23(), {1}), {2}, {6.0, 15.0});
  expect_values(mg::sum(m23(), {-1}), {2}, {6.0, 15.0});
  expect_values(mg::sum(m23(), {-2}), {3}, {5.0, 7.0, 9.0});
}

TEST(ReduceSum, Keepdim) {
  expect_values(mg::sum(m23(), {0}, true), {1, 3}, {5.0, 7.0, 9.0});
  expect_values(mg::sum(m23(), {1}, true), {2, 1}, {6.0, 15.0});
  expect_values(mg::sum(m23(), {0, 1}, true), {1, 1}, {21.0});
}

TEST(ReduceSum, SeveralDimsOf3D) {
  // x[i][j][k] = 12 i + 4 j + k.
  expect_values(mg::sum(iota234(), {0, 2}), {3}, {60.0, 92.0, 124.0});
  expect_values(mg::sum(iota234(), {2, 0}), {3}, {60.0, 92.0, 124.0});
  expect_values(mg::sum(iota234(), {0, 1}), {4}, {60.0, 66.0, 72.0, 78.0});
  expect_values(mg::sum(iota234(), {1, 2}, true), {2, 1, 1}, {66.0, 210.0});
  expect_values(mg::sum(iota234(), {-1, -3}, true), {1, 3, 1}, {60.0, 92.0, 124.0});
}

TEST(ReduceSum, IntAndBoolGiveInt64) {
  Tensor i = mg::sum(tensor<int32_t>({{1, 2}, {3, 4}}), {0});
  EXPECT_EQ(i.dtype(), kInt64);
  expect_values(i, {2}, {4.0, 6.0});
  Tensor b = mg::sum(tensor<bool>({true, false, true, true}));
  EXPECT_EQ(b.dtype(), kInt64);
  expect_values(b, {}, {3.0});
  EXPECT_EQ(mg::sum(tensor<int64_t>({5, 6})).dtype(), kInt64);
  EXPECT_EQ(mg::sum(tensor({1.0f, 2.0f})).dtype(), kFloat32);
}

TEST(ReduceSum, Int32SumDoesNotOverflow) {
  Tensor x = full({4}, 2000000000, kInt32);
  expect_values(x.sum(), {}, {8000000000.0});
}

TEST(ReduceSum, TransposedInput) {
  Tensor x = m23().t();  // [[1, 4], [2, 5], [3, 6]], not contiguous
  ASSERT_FALSE(x.is_contiguous());
  expect_values(mg::sum(x, {0}), {2}, {6.0, 15.0});
  expect_values(mg::sum(x, {1}), {3}, {5.0, 7.0, 9.0});
  expect_values(mg::sum(x), {}, {21.0});
}

TEST(ReduceSum, ZeroDimInput) {
  Tensor s = scalar_tensor(2.5, kFloat64);
  expect_values(s.sum(), {}, {2.5});
  expect_values(mg::sum(s, {0}), {}, {2.5});
  expect_values(mg::sum(s, {-1}, true), {}, {2.5});
}

TEST(ReduceSum, EmptyDimGivesZero) {
  expect_values(mg::sum(zeros({2, 0}), {1}), {2}, {0.0, 0.0});
  expect_values(mg::sum(zeros({0, 3}), {0}), {3}, {0.0, 0.0, 0.0});
  expect_values(mg::sum(zeros({0})), {}, {0.0});
}

TEST(ReduceSum, ResultIsNotAView) {
  Tensor s = mg::sum(m23(), {1});
  EXPECT_FALSE(s.is_view());
  EXPECT_TRUE(s.is_contiguous());
}

TEST(ReduceSum, BadDimAndRepeatedDimAreErrors) {
  EXPECT_MG_ERROR(mg::sum(m23(), {2}), "sum");
  EXPECT_MG_ERROR(mg::sum(m23(), {-3}), "out of range");
  EXPECT_MG_ERROR(mg::sum(m23(), {1, -1}), "more than once");
}

TEST(ReduceSum, Gradcheck) {
  expect_gradcheck([](const Tensor& x) { return x.sum(); }, {2, 3});
  expect_gradcheck([](const Tensor& x) { return mg::sum(x, {0}); }, {2, 3, 2});
  expect_gradcheck([](const Tensor& x) { return mg::sum(x, {-1}, true); }, {2, 3, 2});
  expect_gradcheck([](const Tensor& x) { return mg::sum(x, {0, 2}); }, {2, 3, 2});
  expect_gradcheck([](const Tensor& x) { return mg::sum(x.t(), {1}); }, {3, 4});
}

// A reference sum over dim 0 of [R, C], accumulated in double one column at a time.
std::vector<double> naive_column_sums(const Tensor& x) {
  const std::vector<double> v = x.to_vector<double>();
  const int64_t rows = x.size(0), cols = x.size(1);
  std::vector<double> out(cols, 0.0);
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t r = 0; r < rows; ++r) out[c] += v[r * cols + c];
  return out;
}

TEST(ReduceSumOuterDims, MatchesNaiveLoopOn37x19) {
  Generator gen(7);
  Tensor x64 = randn({37, 19}, kFloat64, &gen);
  expect_values(mg::sum(x64, {0}), {19}, naive_column_sums(x64), 1e-12);
  Tensor x32 = randn({37, 19}, kFloat32, &gen);
  expect_values(mg::sum(x32, {0}), {19}, naive_column_sums(x32), 1e-5);
  expect_values(mg::sum(x32, {-2}, true), {1, 19}, naive_column_sums(x32), 1e-5);
  Tensor xi = randint(-50, 50, {37, 19}, {}, &gen);
  expect_values(mg::sum(xi, {0}), {19}, naive_column_sums(xi));
}

TEST(ReduceSumOuterDims, SeveralColumnBlocksAndThreads) {
  // 1000 columns span several accumulator blocks; 300 rows make enough work to split.
  Generator gen(3);
  Tensor x = randn({300, 1000}, kFloat64, &gen);
  expect_values(mg::sum(x, {0}), {1000}, naive_column_sums(x), 1e-10);
}

TEST(ReduceSumOuterDims, RowChunksSplitAcrossThreads) {
  // Few columns and many rows: threads split the rows and combine partial sums.
  const int saved_threads = get_num_threads();
  set_num_threads(4);
  Generator gen(11);
  Tensor narrow = randn({4000, 19}, kFloat64, &gen);
  Tensor narrow_sum = mg::sum(narrow, {0});
  Tensor wide = randn({300, 1000}, kFloat64, &gen);
  Tensor wide_sum = mg::sum(wide, {0});
  Tensor factors = full({3000, 5}, 1.001, kFloat64);
  Tensor product = mg::prod(factors, {0});
  set_num_threads(saved_threads);
  expect_values(narrow_sum, {19}, naive_column_sums(narrow), 1e-10);
  expect_values(wide_sum, {1000}, naive_column_sums(wide), 1e-10);
  expect_values(product, {5}, std::vector<double>(5, std::pow(1.001, 3000)), 1e-9);
}

// Reference max over dim 0 of [R, C] with the first row holding it (NaN counts as largest).
struct ColumnMax {
  std::vector<double> values, rows;
};
ColumnMax naive_column_max(const Tensor& x) {
  const std::vector<double> v = x.to_vector<double>();
  const int64_t rows = x.size(0), cols = x.size(1);
  ColumnMax m{std::vector<double>(cols), std::vector<double>(cols)};
  for (int64_t c = 0; c < cols; ++c) {
    int64_t best = 0;
    for (int64_t r = 1; r < rows && !std::isnan(v[best * cols + c]); ++r)
      if (std::isnan(v[r * cols + c]) || v[r * cols + c] > v[best * cols + c]) best = r;
    m.values[c] = v[best * cols + c];
    m.rows[c] = static_cast<double>(best);
  }
  return m;
}

TEST(ReduceMaxOuterDims, MatchesNaiveLoopWithTiesAndNaN) {
  Generator gen(13);
  // Integers in [0, 4) make ties in every column: the first occurrence must win.
  Tensor x = randint(0, 4, {37, 19}, kFloat64, &gen);
  x.select(0, 20).select(0, 5).fill_(kNaN);
  x.select(0, 30).select(0, 5).fill_(kNaN);
  const ColumnMax expected = naive_column_max(x);
  auto [values, indices] = mg::max(x, 0);
  expect_values(values, {19}, expected.values);
  expect_values(indices, {19}, expected.rows);
  expect_values(mg::amax(x, {0}), {19}, expected.values);
  expect_values(mg::argmax(x, 0), {19}, expected.rows);
  std::vector<double> negated;
  for (double v : expected.values) negated.push_back(-v);
  expect_values(mg::amin(-x, {0}), {19}, negated);
}

TEST(ReduceMaxOuterDims, RowChunksKeepFirstOccurrence) {
  const int saved_threads = get_num_threads();
  set_num_threads(4);
  Generator gen(17);
  Tensor x = randint(0, 3, {4000, 19}, kInt64, &gen);
  auto [values, indices] = mg::max(x, 0);
  Tensor mins = mg::argmin(x, 0);
  set_num_threads(saved_threads);
  const ColumnMax expected = naive_column_max(x);
  expect_values(values, {19}, expected.values);
  expect_values(indices, {19}, expected.rows);
  const ColumnMax expected_min = naive_column_max(-x);
  expect_values(mins, {19}, expected_min.rows);
}

TEST(ReduceMaxOuterDims, MiddleDimOf3D) {
  Generator gen(19);
  Tensor x = randn({3, 37, 19}, kFloat64, &gen);
  auto [values, indices] = mg::max(x, 1, true);
  ASSERT_EQ(values.shape(), (Shape{3, 1, 19}));
  for (int64_t b = 0; b < 3; ++b) {
    const ColumnMax expected = naive_column_max(x[b]);
    expect_values(values[b][0], {19}, expected.values);
    expect_values(indices[b][0], {19}, expected.rows);
  }
}

TEST(ReduceSumOuterDims, MiddleAndLeadingDimsOf3D) {
  Generator gen(5);
  Tensor x = randn({4, 37, 19}, kFloat64, &gen);
  // Reducing dim 1 keeps dims 0 and 2: each x[b] is an independent column sum.
  Tensor s1 = mg::sum(x, {1});
  ASSERT_EQ(s1.shape(), (Shape{4, 19}));
  for (int64_t b = 0; b < 4; ++b) expect_values(s1[b], {19}, naive_column_sums(x[b]), 1e-12);
  // Reducing dims 0 and 1 is one column sum of the [148, 19] view.
  expect_values(mg::sum(x, {0, 1}), {19}, naive_column_sums(x.reshape({4 * 37, 19})), 1e-12);
}

TEST(ReduceSumOuterDims, NonContiguousRowsAndColumns) {
  Generator gen(9);
  Tensor base = randn({37, 40}, kFloat64, &gen);
  Tensor strided_rows = base.narrow(1, 3, 19);  // rows 40 apart, columns contiguous
  expect_values(mg::sum(strided_rows, {0}), {19}, naive_column_sums(strided_rows), 1e-12);
  Tensor transposed = randn({19, 37}, kFloat64, &gen).t();  // columns not contiguous
  expect_values(mg::sum(transposed, {0}), {19}, naive_column_sums(transposed), 1e-12);
}

TEST(ReduceSumOuterDims, ProdUsesRowsToo) {
  Tensor x = tensor({{1.0, 2.0, -1.0}, {3.0, 0.5, 2.0}, {2.0, 4.0, 5.0}});
  expect_values(mg::prod(x, {0}), {3}, {6.0, 4.0, -10.0});
}

// ---------------------------------------------------------------- mean

TEST(ReduceMean, Values) {
  expect_values(m23().mean(), {}, {3.5});
  expect_values(mg::mean(m23(), {0}), {3}, {2.5, 3.5, 4.5});
  expect_values(mg::mean(m23(), {-1}, true), {2, 1}, {2.0, 5.0});
  expect_values(mg::mean(iota234(), {0, 2}), {3}, {7.5, 11.5, 15.5});
}

TEST(ReduceMean, IntegerInputIsError) {
  EXPECT_MG_ERROR(mg::mean(tensor<int64_t>({1, 2})), "mean");
  EXPECT_MG_ERROR(mg::mean(tensor<bool>({true})), "floating");
}

TEST(ReduceMean, Gradcheck) {
  expect_gradcheck([](const Tensor& x) { return x.mean(); }, {2, 3});
  expect_gradcheck([](const Tensor& x) { return mg::mean(x, {1}); }, {2, 3, 2});
  expect_gradcheck([](const Tensor& x) { return mg::mean(x, {0, -1}, true); }, {2, 3, 2});
}

// ---------------------------------------------------------------- prod

TEST(ReduceProd, Values) {
  expect_values(mg::prod(m23()), {}, {720.0});
  expect_values(mg::prod(m23(), {1}), {2}, {6.0, 120.0});
  expect_values(mg::prod(m23(), {-2}, true), {1, 3}, {4.0, 10.0, 18.0});
  expect_values(mg::prod(m23().t(), {0}), {2}, {6.0, 120.0});
}

TEST(ReduceProd, IntAndBoolGiveInt64) {
  Tensor i = mg::prod(tensor<int32_t>({100000, 100000}));
  EXPECT_EQ(i.dtype(), kInt64);
  expect_values(i, {}, {1e10});
  Tensor b = mg::prod(tensor<bool>({{true, false}, {true, true}}), {1});
  EXPECT_EQ(b.dtype(), kInt64);
  expect_values(b, {2}, {0.0, 1.0});
}

TEST(ReduceProd, EmptyIsOneAndZeroDimIsItself) {
  expect_values(mg::prod(zeros({2, 0}), {1}), {2}, {1.0, 1.0});
  expect_values(mg::prod(scalar_tensor(-3.0, kFloat64)), {}, {-3.0});
}

TEST(ReduceProd, GradientWithoutZeros) {
  // d(a b c)/da = b c, ...
  expect_values(grad_of([](const Tensor& x) { return mg::prod(x); }, tensor({2.0, 3.0, 4.0}),
                        ones({}, kFloat64)),
                {3}, {12.0, 8.0, 6.0});
}

TEST(ReduceProd, GradientWithZeros) {
  auto p = [](const Tensor& x) { return mg::prod(x, {1}); };
  // Row 0 has one zero: only it gets the product of the others. Row 1 has two: all zero.
  Tensor x = tensor({{2.0, 0.0, 3.0}, {0.0, 5.0, 0.0}});
  expect_values(grad_of(p, x, ones({2}, kFloat64)), {2, 3}, {0.0, 6.0, 0.0, 0.0, 0.0, 0.0});
}

TEST(ReduceProd, Gradcheck) {
  expect_gradcheck([](const Tensor& x) { return mg::prod(x); }, {2, 3});
  expect_gradcheck([](const Tensor& x) { return mg::prod(x, {0}); }, {3, 2, 2});
  expect_gradcheck([](const Tensor& x) { return mg::prod(x, {-1, 0}, true); }, {3, 2, 2});
  // prod is linear in each element, so finite differences are exact at zeros too.
  expect_gradcheck_at([](const Tensor& x) { return mg::prod(x, {1}); },
                      tensor({{2.0, 0.0, 3.0}, {0.0, 5.0, 0.0}, {1.5, -2.0, 0.5}}));
}

// ---------------------------------------------------------------- max / min of everything

TEST(ReduceMaxMin, WholeTensor) {
  Tensor x = tensor({{3.0, -1.0, 7.0}, {0.5, 7.0, -4.0}});
  expect_values(x.max(), {}, {7.0});
  expect_values(x.min(), {}, {-4.0});
  expect_values(mg::max(x.t()), {}, {7.0});
  Tensor i = tensor<int32_t>({4, -9, 2});
  EXPECT_EQ(mg::max(i).dtype(), kInt32);
  expect_values(mg::max(i), {}, {4.0});
  expect_values(mg::min(i), {}, {-9.0});
  expect_values(mg::max(tensor<bool>({false, true})), {}, {1.0});
  expect_values(mg::min(scalar_tensor(2.0)), {}, {2.0});
}

TEST(ReduceMaxMin, NaNPropagates) {
  Tensor x = tensor({1.0, kNaN, 3.0});
  expect_values(mg::max(x), {}, {kNaN});
  expect_values(mg::min(x), {}, {kNaN});
  expect_values(mg::amax(tensor({{1.0, 2.0}, {kNaN, 0.0}}), {1}), {2}, {2.0, kNaN});
  auto [values, indices] = mg::max(tensor({{1.0, 2.0, kNaN, 9.0}, {4.0, 1.0, 0.0, 8.0}}), 1);
  expect_values(values, {2}, {kNaN, 8.0});
  expect_values(indices, {2}, {2.0, 3.0});
  expect_values(mg::argmax(tensor({5.0, kNaN, 9.0})), {}, {1.0});
}

TEST(ReduceMaxMin, EmptyReductionIsError) {
  EXPECT_MG_ERROR(mg::max(zeros({0})), "max");
  EXPECT_MG_ERROR(mg::min(zeros({2, 0})), "[2, 0]");
  EXPECT_MG_ERROR(mg::amax(zeros({2, 0}), {1}), "amax");
  EXPECT_MG_ERROR(mg::amin(zeros({2, 0}), {1}), "no identity");
  EXPECT_MG_ERROR(mg::max(zeros({3, 0}), 1), "max");
  EXPECT_MG_ERROR(mg::argmax(zeros({0, 2})), "argmax");
  EXPECT_MG_ERROR(mg::argmin(zeros({0, 2}), 0), "[0, 2]");
  // Reducing a non-empty dim of a tensor with an empty kept dim is fine.
  EXPECT_EQ(mg::amax(zeros({0, 2}), {1}).shape(), (Shape{0}));
}

TEST(ReduceMaxMin, WholeTensorGradientSplitsTies) {
  Tensor x = tensor({1.0, 3.0, 3.0, 2.0});
  expect_values(grad_of([](const Tensor& v) { return mg::max(v); }, x, ones({}, kFloat64)), {4},
                {0.0, 0.5, 0.5, 0.0});
  expect_values(grad_of([](const Tensor& v) { return mg::min(v); }, x, full({}, 4.0, kFloat64)),
                {4}, {4.0, 0.0, 0.0, 0.0});
}

TEST(ReduceMaxMin, Gradcheck) {
  expect_gradcheck([](const Tensor& x) { return mg::max(x); }, {3, 4});
  expect_gradcheck([](const Tensor& x) { return mg::min(x.t()); }, {3, 4});
}

// ---------------------------------------------------------------- max / min along a dim

TEST(ReduceMaxDim, ValuesAndFirstIndexOfTies) {
  Tensor x = tensor({{1.0, 5.0, 3.0}, {7.0, 2.0, 7.0}});
  auto [v1, i1] = mg::max(x, 1);
  expect_values(v1, {2}, {5.0, 7.0});
  expect_values(i1, {2}, {1.0, 0.0});
  EXPECT_EQ(i1.dtype(), kInt64);
  auto [v0, i0] = mg::max(x, 0);
  expect_values(v0, {3}, {7.0, 5.0, 7.0});
  expect_values(i0, {3}, {1.0, 0.0, 1.0});
  auto [mv, mi] = mg::min(x, -1);
  expect_values(mv, {2}, {1.0, 2.0});
  expect_values(mi, {2}, {0.0, 1.0});
}

TEST(ReduceMaxDim, Keepdim) {
  auto [v, i] = mg::max(m23(), 0, true);
  expect_values(v, {1, 3}, {4.0, 5.0, 6.0});
  expect_values(i, {1, 3}, {1.0, 1.0, 1.0});
  auto [mv, mi] = mg::min(iota234(), -2, true);
  expect_values(mv, {2, 1, 4}, {0.0, 1.0, 2.0, 3.0, 12.0, 13.0, 14.0, 15.0});
  expect_values(mi, {2, 1, 4}, {0, 0, 0, 0, 0, 0, 0, 0});
}

TEST(ReduceMaxDim, TransposedAndIntInputs) {
  Tensor x = tensor({{1.0, 5.0, 3.0}, {7.0, 2.0, 0.0}}).t();  // [[1, 7], [5, 2], [3, 0]]
  auto [v, i] = mg::max(x, 1);
  expect_values(v, {3}, {7.0, 5.0, 3.0});
  expect_values(i, {3}, {1.0, 0.0, 0.0});
  auto [iv, ii] = mg::min(tensor<int64_t>({{4, -2, 9}, {0, 0, -1}}), 1);
  EXPECT_EQ(iv.dtype(), kInt64);
  expect_values(iv, {2}, {-2.0, -1.0});
  expect_values(ii, {2}, {1.0, 2.0});
}

TEST(ReduceMaxDim, ZeroDimInput) {
  auto [v, i] = mg::max(scalar_tensor(4.0, kFloat64), 0);
  expect_values(v, {}, {4.0});
  expect_values(i, {}, {0.0});
  EXPECT_MG_ERROR(mg::max(scalar_tensor(4.0), 1), "out of range");
}

TEST(ReduceMaxDim, GradientGoesToSelectedIndex) {
  Tensor x = tensor({{1.0, 5.0, 3.0}, {7.0, 2.0, 7.0}});
  auto op = [](const Tensor& v) { return mg::max(v, 1).values; };
  expect_values(grad_of(op, x, tensor({2.0, 3.0})), {2, 3}, {0.0, 2.0, 0.0, 3.0, 0.0, 0.0});
  auto op_keep = [](const Tensor& v) { return mg::min(v, 0, true).values; };
  expect_values(grad_of(op_keep, x, tensor({{1.0, 2.0, 3.0}})), {2, 3},
                {1.0, 0.0, 3.0, 0.0, 2.0, 0.0});
}

TEST(ReduceMaxDim, GradientAddsToOtherUses) {
  Tensor x = tensor({{1.0, 5.0, 3.0}, {7.0, 2.0, 7.0}}).requires_grad_();
  (mg::max(x, 1).values.sum() + (x * 2).sum() + mg::min(x, 0).values.sum()).backward();
  // 2 everywhere, plus 1 at row maxima (0, 1), (1, 0) and column minima (0, 0), (1, 1), (0, 2).
  expect_values(x.grad(), {2, 3}, {3.0, 3.0, 3.0, 3.0, 3.0, 2.0});
}

TEST(ReduceMaxDim, Gradcheck) {
  expect_gradcheck([](const Tensor& x) { return mg::max(x, 0).values; }, {3, 4});
  expect_gradcheck([](const Tensor& x) { return mg::max(x, -1, true).values; }, {2, 3, 4});
  expect_gradcheck([](const Tensor& x) { return mg::min(x, 1).values; }, {2, 3, 4});
  expect_gradcheck([](const Tensor& x) { return mg::min(x.t(), 0).values; }, {3, 4});
}

TEST(ReduceMaxDim, BadDimIsError) {
  EXPECT_MG_ERROR(mg::max(m23(), 2), "max");
  EXPECT_MG_ERROR(mg::min(m23(), -3), "min");
}

// ---------------------------------------------------------------- amax / amin

TEST(ReduceAmax, SeveralDims) {
  expect_values(mg::amax(iota234(), {0, 2}), {3}, {15.0, 19.0, 23.0});
  expect_values(mg::amin(iota234(), {0, 2}), {3}, {0.0, 4.0, 8.0});
  expect_values(mg::amax(iota234(), {-1}, true), {2, 3, 1}, {3.0, 7.0, 11.0, 15.0, 19.0, 23.0});
  expect_values(mg::amin(iota234(), {1, 0}), {4}, {0.0, 1.0, 2.0, 3.0});
  expect_values(mg::amax(iota234()), {}, {23.0});
  expect_values(iota234().amax({1}), {2, 4}, {8.0, 9.0, 10.0, 11.0, 20.0, 21.0, 22.0, 23.0});
}

TEST(ReduceAmax, NonContiguousIntAndBool) {
  Tensor x = tensor({{1.0, 9.0}, {4.0, -2.0}, {6.0, 0.0}}).t();  // [[1, 4, 6], [9, -2, 0]]
  expect_values(mg::amax(x, {1}), {2}, {6.0, 9.0});
  expect_values(mg::amin(x, {0}), {3}, {1.0, -2.0, 0.0});
  Tensor i = mg::amax(tensor<int32_t>({{3, 8}, {5, 1}}), {0});
  EXPECT_EQ(i.dtype(), kInt32);
  expect_values(i, {2}, {5.0, 8.0});
  Tensor b = mg::amin(tensor<bool>({{true, false}, {true, true}}), {1});
  EXPECT_EQ(b.dtype(), kBool);
  expect_values(b, {2}, {0.0, 1.0});
}

TEST(ReduceAmax, GradientSplitsTies) {
  Tensor x = tensor({{1.0, 4.0, 4.0}, {4.0, 0.0, 2.0}});
  const double third = 1.0 / 3.0;
  expect_values(grad_of([](const Tensor& v) { return mg::amax(v); }, x, ones({}, kFloat64)), {2, 3},
                {0.0, third, third, third, 0.0, 0.0}, 1e-15);
  expect_values(grad_of([](const Tensor& v) { return mg::amax(v, {1}); }, x, tensor({2.0, 6.0})),
                {2, 3}, {0.0, 1.0, 1.0, 6.0, 0.0, 0.0});
  expect_values(
      grad_of([](const Tensor& v) { return mg::amin(v, {0}, true); }, x, tensor({{1.0, 2.0, 3.0}})),
      {2, 3}, {1.0, 0.0, 0.0, 0.0, 2.0, 3.0});
}

TEST(ReduceAmax, Gradcheck) {
  expect_gradcheck([](const Tensor& x) { return mg::amax(x, {0, 2}); }, {2, 3, 4});
  expect_gradcheck([](const Tensor& x) { return mg::amax(x, {-1}, true); }, {2, 3, 4});
  expect_gradcheck([](const Tensor& x) { return mg::amin(x, {1}); }, {2, 3, 4});
  expect_gradcheck([](const Tensor& x) { return mg::amin(x.t()); }, {3, 4});
}

TEST(ReduceAmax, BadAndRepeatedDimsAreErrors) {
  EXPECT_MG_ERROR(mg::amax(m23(), {5}), "amax");
  EXPECT_MG_ERROR(mg::amin(m23(), {0, -2}), "more than once");
}

// ---------------------------------------------------------------- argmax / argmin

TEST(ReduceArgmax, FlattenedWhenDimOmitted) {
  Tensor x = tensor({{1.0, 9.0, 3.0}, {9.0, 2.0, 0.0}});
  Tensor a = mg::argmax(x);
  EXPECT_EQ(a.dtype(), kInt64);
  expect_values(a, {}, {1.0});
  expect_values(mg::argmin(x), {}, {5.0});
  expect_values(mg::argmax(x, std::nullopt, true), {1, 1}, {1.0});
  expect_values(mg::argmax(scalar_tensor(3.0)), {}, {0.0});
}

TEST(ReduceArgmax, FlattenedTransposedUsesLogicalOrder) {
  // x.t() = [[1, 9], [9, 2], [3, 0]]: flattened [1, 9, 9, 2, 3, 0].
  Tensor x = tensor({{1.0, 9.0, 3.0}, {9.0, 2.0, 0.0}}).t();
  expect_values(mg::argmax(x), {}, {1.0});
  expect_values(mg::argmin(x), {}, {5.0});
}

TEST(ReduceArgmax, AlongDim) {
  Tensor x = tensor({{1.0, 9.0, 3.0}, {9.0, 2.0, 0.0}});
  expect_values(mg::argmax(x, 0), {3}, {1.0, 0.0, 0.0});
  expect_values(mg::argmax(x, 1), {2}, {1.0, 0.0});
  expect_values(mg::argmin(x, -1, true), {2, 1}, {0.0, 2.0});
  expect_values(x.argmax(-2), {3}, {1.0, 0.0, 0.0});
  expect_values(x.argmin(1), {2}, {0.0, 2.0});
  expect_values(mg::argmax(tensor<int32_t>({{4, 7, 7}}), 1), {1}, {1.0});
}

TEST(ReduceArgmax, NotDifferentiable) {
  Tensor x = grad_input({2, 3});
  EXPECT_FALSE(mg::argmax(x, 1).requires_grad());
  EXPECT_FALSE(mg::argmin(x).requires_grad());
  EXPECT_FALSE(mg::max(x, 1).indices.requires_grad());
  EXPECT_TRUE(mg::max(x, 1).values.requires_grad());
}

TEST(ReduceArgmax, BadDimIsError) {
  EXPECT_MG_ERROR(mg::argmax(m23(), 2), "argmax");
  EXPECT_MG_ERROR(mg::argmin(m23(), -3), "argmin");
}

// ---------------------------------------------------------------- var / std

TEST(ReduceVar, WholeTensorCorrections) {
  Tensor x = tensor({1.0, 2.0, 3.0, 4.0});  // squared deviations sum to 5
  expect_values(mg::var(x), {}, {5.0 / 3.0}, 1e-15);
  expect_values(mg::var(x, {}, 0), {}, {1.25});
  expect_values(mg::std(x), {}, {std::sqrt(5.0 / 3.0)}, 1e-15);
  expect_values(mg::std(x, {}, 0), {}, {std::sqrt(1.25)}, 1e-15);
}

TEST(ReduceVar, DimsAndKeepdim) {
  Tensor x = tensor({{1.0, 2.0, 3.0}, {4.0, 6.0, 8.0}});
  expect_values(mg::var(x, {1}), {2}, {1.0, 4.0});
  expect_values(mg::var(x, {0}), {3}, {4.5, 8.0, 12.5});
  expect_values(mg::var(x, {-1}, 0, true), {2, 1}, {2.0 / 3.0, 8.0 / 3.0}, 1e-15);
  expect_values(mg::std(x, {1}), {2}, {1.0, 2.0});
  expect_values(mg::std(x.t(), {0}, 1, true), {1, 2}, {1.0, 2.0});
  // For each j the slice is 4j + {0, 1, 2, 3, 12, 13, 14, 15}: deviations from its mean are
  // +-4.5, +-5.5, +-6.5, +-7.5, whose squares sum to 298.
  expect_values(mg::var(iota234(), {0, 2}), {3}, {298.0 / 7, 298.0 / 7, 298.0 / 7}, 1e-12);
}

TEST(ReduceVar, CorrectionLargerThanCountGivesInf) {
  expect_values(mg::var(tensor({2.0})), {}, {kNaN});  // 0 / 0
  expect_values(mg::var(tensor({1.0, 3.0}), {}, 2), {}, {kInf});
}

TEST(ReduceVar, IntegerInputIsError) {
  EXPECT_MG_ERROR(mg::var(tensor<int64_t>({1, 2})), "var");
  EXPECT_MG_ERROR(mg::std(tensor<int32_t>({1, 2})), "std");
  EXPECT_MG_ERROR(mg::var(tensor<bool>({true, false})), "floating");
}

TEST(ReduceVar, Gradcheck) {
  expect_gradcheck([](const Tensor& x) { return mg::var(x); }, {3, 4});
  expect_gradcheck([](const Tensor& x) { return mg::var(x, {1}, 0); }, {2, 3, 4});
  expect_gradcheck([](const Tensor& x) { return mg::var(x, {0, -1}, 1, true); }, {2, 3, 4});
  expect_gradcheck([](const Tensor& x) { return mg::var(x.t(), {0}); }, {3, 4});
}

TEST(ReduceStd, Gradcheck) {
  expect_gradcheck([](const Tensor& x) { return mg::std(x); }, {3, 4});
  expect_gradcheck([](const Tensor& x) { return mg::std(x, {1}, 0, true); }, {2, 3, 4});
  expect_gradcheck([](const Tensor& x) { return mg::std(x, {-3, 2}); }, {2, 3, 4});
}

TEST(ReduceStd, ConstantSliceHasZeroGradient) {
  Tensor x = tensor({{2.0, 2.0, 2.0}, {1.0, 2.0, 3.0}});
  Tensor g = grad_of([](const Tensor& v) { return mg::std(v, {1}); }, x, ones({2}, kFloat64));
  // Row 1: std 1, d std / d x_i = (x_i - mean) / ((N - 1) std) = (x_i - 2) / 2.
  expect_values(g, {2, 3}, {0.0, 0.0, 0.0, -0.5, 0.0, 0.5});
}

// ---------------------------------------------------------------- logsumexp

TEST(ReduceLogsumexp, Values) {
  Tensor x = tensor({{0.0, std::log(2.0), std::log(3.0)}, {1.0, 1.0, 1.0}});
  expect_values(mg::logsumexp(x, {1}), {2}, {std::log(6.0), 1.0 + std::log(3.0)}, 1e-14);
  expect_values(
      mg::logsumexp(x, {0}, true), {1, 3},
      {std::log(1.0 + std::exp(1.0)), std::log(2.0 + std::exp(1.0)), std::log(3.0 + std::exp(1.0))},
      1e-14);
  expect_values(mg::logsumexp(x, {}), {}, {std::log(6.0 + 3.0 * std::exp(1.0))}, 1e-14);
  expect_values(mg::logsumexp(x.t(), {-2}), {2}, {std::log(6.0), 1.0 + std::log(3.0)}, 1e-14);
}

TEST(ReduceLogsumexp, LargeValuesAreStable) {
  expect_values(mg::logsumexp(tensor({1000.0, 1000.0}), {0}), {}, {1000.0 + std::log(2.0)}, 1e-12);
  expect_values(mg::logsumexp(tensor({-1000.0, -1000.0}), {0}), {}, {-1000.0 + std::log(2.0)},
                1e-12);
  expect_values(mg::logsumexp(tensor({1e4f, 0.0f}), {0}), {}, {1e4});
}

TEST(ReduceLogsumexp, InfiniteSlices) {
  Tensor x = tensor({{-kInf, -kInf}, {0.0, -kInf}, {kInf, 1.0}});
  expect_values(mg::logsumexp(x, {1}), {3}, {-kInf, 0.0, kInf});
  expect_values(mg::logsumexp(zeros({2, 0}), {1}), {2}, {-kInf, -kInf});
}

TEST(ReduceLogsumexp, NegInfRowHasZeroGradient) {
  Tensor x = tensor({{-kInf, -kInf}, {0.0, std::log(3.0)}});
  Tensor g = grad_of([](const Tensor& v) { return mg::logsumexp(v, {1}); }, x, ones({2}, kFloat64));
  expect_values(g, {2, 2}, {0.0, 0.0, 0.25, 0.75}, 1e-15);
}

TEST(ReduceLogsumexp, IntegerInputBecomesFloat) {
  Tensor r = mg::logsumexp(tensor<int64_t>({0, 0}), {0});
  EXPECT_EQ(r.dtype(), default_dtype());
  expect_values(r, {}, {std::log(2.0)}, 1e-6);
}

TEST(ReduceLogsumexp, Gradcheck) {
  expect_gradcheck([](const Tensor& x) { return mg::logsumexp(x, {1}); }, {3, 4});
  expect_gradcheck([](const Tensor& x) { return mg::logsumexp(x, {0, 2}, true); }, {2, 3, 4});
  expect_gradcheck([](const Tensor& x) { return mg::logsumexp(x * 300, {-1}); }, {2, 3});
}

TEST(ReduceLogsumexp, BadDimIsError) {
  EXPECT_MG_ERROR(mg::logsumexp(m23(), {2}), "logsumexp");
}

// ---------------------------------------------------------------- norm

TEST(ReduceNorm, PValues) {
  Tensor x = tensor({3.0, -4.0});
  expect_values(mg::norm(x), {}, {5.0});
  expect_values(mg::norm(x, 1), {}, {7.0});
  expect_values(mg::norm(x, kInf), {}, {4.0});
  expect_values(mg::norm(x, -kInf), {}, {3.0});
  expect_values(mg::norm(x, 3), {}, {std::cbrt(91.0)}, 1e-14);
  expect_values(mg::norm(x, 0.5), {}, {std::pow(std::sqrt(3.0) + 2.0, 2.0)}, 1e-13);
  expect_values(mg::norm(tensor({0.0, 2.0, -1.0, 0.0}), 0), {}, {2.0});
}

TEST(ReduceNorm, DimsAndKeepdim) {
  Tensor x = tensor({{3.0, 4.0}, {6.0, -8.0}});
  expect_values(mg::norm(x, 2, {1}), {2}, {5.0, 10.0});
  expect_values(mg::norm(x, 1, {0}, true), {1, 2}, {9.0, 12.0});
  expect_values(mg::norm(x.t(), kInf, {-2}), {2}, {4.0, 8.0});
  expect_values(mg::norm(x, 2, {0, 1}), {}, {std::sqrt(125.0)}, 1e-14);
}

TEST(ReduceNorm, IntegerInputAndEmptyInfNormAreErrors) {
  EXPECT_MG_ERROR(mg::norm(tensor<int64_t>({3, 4})), "norm");
  EXPECT_MG_ERROR(mg::norm(zeros({0}), kInf), "norm");
}

TEST(ReduceNorm, ZeroVectorHasZeroGradient) {
  for (double p : {2.0, 3.0, 1.5, 0.5, kInf}) {
    Tensor g = grad_of([p](const Tensor& v) { return mg::norm(v, p, {1}); },
                       tensor({{0.0, 0.0}, {3.0, 4.0}}), ones({2}, kFloat64));
    std::vector<double> got = g.to_vector<double>();
    EXPECT_EQ(got[0], 0.0) << "p = " << p;
    EXPECT_EQ(got[1], 0.0) << "p = " << p;
  }
  Tensor g2 = grad_of([](const Tensor& v) { return mg::norm(v); }, tensor({0.0, 0.0, 0.0}),
                      ones({}, kFloat64));
  expect_values(g2, {3}, {0.0, 0.0, 0.0});
}

TEST(ReduceNorm, GradientValues) {
  Tensor x = tensor({3.0, -4.0});
  auto grad_for = [&](double p) {
    return grad_of([p](const Tensor& v) { return mg::norm(v, p); }, x, ones({}, kFloat64));
  };
  expect_values(grad_for(2), {2}, {0.6, -0.8}, 1e-15);
  expect_values(grad_for(1), {2}, {1.0, -1.0});
  expect_values(grad_for(kInf), {2}, {0.0, -1.0});
  expect_values(grad_for(0), {2}, {0.0, 0.0});
}

TEST(ReduceNorm, Gradcheck) {
  for (double p : {2.0, 1.0, 3.0, 1.5, kInf, -kInf}) {
    expect_gradcheck([p](const Tensor& x) { return mg::norm(x, p); }, {3, 4});
    expect_gradcheck([p](const Tensor& x) { return mg::norm(x, p, {1}, true); }, {2, 3, 2});
  }
  // p < 1 away from zero.
  expect_gradcheck_at([](const Tensor& x) { return mg::norm(x, 0.5, {-1}); },
                      tensor({{1.0, -2.0, 0.5}, {3.0, 0.25, -1.5}}));
}

// ---------------------------------------------------------------- any / all

TEST(ReduceAnyAll, BoolValues) {
  Tensor b = tensor<bool>({true, false, true, true, false, false}).view({2, 3});
  Tensor a = mg::any(b);
  EXPECT_EQ(a.dtype(), kBool);
  expect_values(a, {}, {1.0});
  expect_values(mg::all(b), {}, {0.0});
  expect_values(mg::any(b, {1}), {2}, {1.0, 1.0});
  expect_values(mg::all(b, {0}), {3}, {1.0, 0.0, 0.0});
  expect_values(mg::any(b, {-2}, true), {1, 3}, {1.0, 0.0, 1.0});
  expect_values(mg::all(b.t(), {0}), {2}, {0.0, 0.0});
  expect_values(mg::any(b.t(), {1}), {3}, {1.0, 0.0, 1.0});
}

TEST(ReduceAnyAll, NumericInputs) {
  Tensor f = tensor({{0.0, 0.5}, {0.0, 0.0}});
  expect_values(mg::any(f, {1}), {2}, {1.0, 0.0});
  expect_values(mg::all(tensor({kNaN, 1.0})), {}, {1.0});  // NaN is non-zero
  Tensor i = tensor<int32_t>({{3, -1}, {2, 0}});
  EXPECT_EQ(mg::all(i).dtype(), kBool);
  expect_values(mg::all(i, {1}), {2}, {1.0, 0.0});
  expect_values(mg::any(tensor<int64_t>({0, 0})), {}, {0.0});
}

TEST(ReduceAnyAll, EmptyAndZeroDim) {
  expect_values(mg::any(zeros({2, 0}), {1}), {2}, {0.0, 0.0});
  expect_values(mg::all(zeros({2, 0}), {1}), {2}, {1.0, 1.0});
  expect_values(mg::all(scalar_tensor(0.0)), {}, {0.0});
  expect_values(mg::any(scalar_tensor(2.0), {0}), {}, {1.0});
}

TEST(ReduceAnyAll, NotDifferentiableAndErrors) {
  EXPECT_FALSE(mg::any(grad_input({3})).requires_grad());
  EXPECT_MG_ERROR(mg::all(m23(), {3}), "all");
  EXPECT_MG_ERROR(mg::any(m23(), {0, 0}), "more than once");
}

// ---------------------------------------------------------------- 0-dim inputs

TEST(ReduceZeroDim, EveryReductionOfAScalar) {
  Tensor s = scalar_tensor(-2.0, kFloat64);
  expect_values(mg::mean(s), {}, {-2.0});
  expect_values(mg::amax(s, {0}), {}, {-2.0});
  expect_values(mg::amin(s, {-1}, true), {}, {-2.0});
  expect_values(mg::argmin(s, 0), {}, {0.0});
  expect_values(mg::var(s, {}, 0), {}, {0.0});
  expect_values(mg::std(s, {0}, 1), {}, {kNaN});  // one element, Bessel-corrected: 0 / 0
  expect_values(mg::logsumexp(s, {0}), {}, {-2.0});
  expect_values(mg::norm(s), {}, {2.0});
  expect_values(mg::norm(s, 1, {-1}, true), {}, {2.0});
}

TEST(ReduceZeroDim, Gradcheck) {
  expect_gradcheck([](const Tensor& x) { return mg::sum(x[0], {0}); }, {1});
  expect_gradcheck([](const Tensor& x) { return mg::prod(x[0]); }, {1});
  expect_gradcheck([](const Tensor& x) { return mg::amax(x[0]); }, {1});
  expect_gradcheck([](const Tensor& x) { return mg::max(x[0], 0).values; }, {1});
  expect_gradcheck([](const Tensor& x) { return mg::logsumexp(x[0], {0}); }, {1});
  expect_gradcheck([](const Tensor& x) { return mg::norm(x[0], 3); }, {1});
  expect_gradcheck([](const Tensor& x) { return mg::cumsum(x[0], -1); }, {1});
}

// ---------------------------------------------------------------- cumsum

TEST(ReduceCumsum, Values) {
  expect_values(mg::cumsum(tensor({1.0, 2.0, 3.0, 4.0}), 0), {4}, {1.0, 3.0, 6.0, 10.0});
  expect_values(mg::cumsum(m23(), 0), {2, 3}, {1.0, 2.0, 3.0, 5.0, 7.0, 9.0});
  expect_values(mg::cumsum(m23(), 1), {2, 3}, {1.0, 3.0, 6.0, 4.0, 9.0, 15.0});
  expect_values(mg::cumsum(m23(), -1), {2, 3}, {1.0, 3.0, 6.0, 4.0, 9.0, 15.0});
  expect_values(mg::cumsum(iota234(), 1)[1][2], {4}, {48.0, 51.0, 54.0, 57.0});
}

TEST(ReduceCumsum, OuterDimMatchesNaiveLoop) {
  Generator gen(23);
  Tensor x = randn({4, 37, 19}, kFloat64, &gen);
  const std::vector<double> v = x.to_vector<double>();
  std::vector<double> expected(v.size());
  for (int64_t b = 0; b < 4; ++b)
    for (int64_t c = 0; c < 19; ++c) {
      double acc = 0;
      for (int64_t r = 0; r < 37; ++r) {
        const int64_t i = (b * 37 + r) * 19 + c;
        acc += v[i];
        expected[i] = acc;
      }
    }
  expect_values(mg::cumsum(x, 1), {4, 37, 19}, expected, 1e-12);
}

TEST(ReduceCumsum, TransposedInput) {
  Tensor x = m23().t();  // [[1, 4], [2, 5], [3, 6]]
  expect_values(mg::cumsum(x, 0), {3, 2}, {1.0, 4.0, 3.0, 9.0, 6.0, 15.0});
  expect_values(mg::cumsum(x, 1), {3, 2}, {1.0, 5.0, 2.0, 7.0, 3.0, 9.0});
}

TEST(ReduceCumsum, Dtypes) {
  Tensor b = mg::cumsum(tensor<bool>({true, false, true}), 0);
  EXPECT_EQ(b.dtype(), kInt64);
  expect_values(b, {3}, {1.0, 1.0, 2.0});
  Tensor i = mg::cumsum(tensor<int32_t>({2000000000, 2000000000}), 0);
  EXPECT_EQ(i.dtype(), kInt64);
  expect_values(i, {2}, {2e9, 4e9});
  EXPECT_EQ(mg::cumsum(tensor<int64_t>({1}), 0).dtype(), kInt64);
  EXPECT_EQ(mg::cumsum(tensor({1.0f}), 0).dtype(), kFloat32);
}

TEST(ReduceCumsum, ZeroDimAndEmpty) {
  expect_values(mg::cumsum(scalar_tensor(3.0), 0), {}, {3.0});
  expect_values(mg::cumsum(scalar_tensor(3.0), -1), {}, {3.0});
  EXPECT_EQ(mg::cumsum(zeros({0, 3}), 0).shape(), (Shape{0, 3}));
  EXPECT_EQ(mg::cumsum(zeros({2, 0}), 1).shape(), (Shape{2, 0}));
}

TEST(ReduceCumsum, GradientIsReverseCumsum) {
  Tensor x = tensor({1.0, 2.0, 3.0, 4.0});
  expect_values(grad_of([](const Tensor& v) { return mg::cumsum(v, 0); }, x,
                        tensor({1.0, 10.0, 100.0, 1000.0})),
                {4}, {1111.0, 1110.0, 1100.0, 1000.0});
  Tensor g = grad_of([](const Tensor& v) { return mg::cumsum(v, 0); }, m23(),
                     tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}));
  expect_values(g, {2, 3}, {5.0, 7.0, 9.0, 4.0, 5.0, 6.0});
  Tensor s = grad_of([](const Tensor& v) { return mg::cumsum(v, 0); }, scalar_tensor(2.0, kFloat64),
                     full({}, 3.0, kFloat64));
  expect_values(s, {}, {3.0});
}

TEST(ReduceCumsum, Gradcheck) {
  expect_gradcheck([](const Tensor& x) { return mg::cumsum(x, 0); }, {5});
  expect_gradcheck([](const Tensor& x) { return mg::cumsum(x, 1); }, {2, 3, 4});
  expect_gradcheck([](const Tensor& x) { return mg::cumsum(x, -3); }, {2, 3, 4});
  expect_gradcheck([](const Tensor& x) { return mg::cumsum(x.t(), 1); }, {3, 4});
  // A broadcast (stride 0) incoming gradient, as sum() produces.
  expect_gradcheck([](const Tensor& x) { return mg::cumsum(x, 0).sum(); }, {4, 2});
}

TEST(ReduceCumsum, BadDimIsError) {
  EXPECT_MG_ERROR(mg::cumsum(m23(), 2), "cumsum");
  EXPECT_MG_ERROR(mg::cumsum(m23(), -3), "out of range");
}

}  // namespace
}  // namespace mixgrad
