// softmax / log_softmax: values against closed forms and a naive reference, every dim, strided
// layouts, extreme logits, dtypes, errors and gradients.
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "common/test_util.h"

namespace mixgrad {
namespace {

using testing::expect_close;
using testing::expect_values;
using testing::grad_input;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Naive softmax (or log_softmax) of each row of a [rows, n] buffer, straight from the
// definition; fine for the moderate values it is used with.
std::vector<double> reference(const std::vector<double>& x, int64_t rows, int64_t n, bool log) {
  std::vector<double> out;
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(x[r * n + i]);
    for (int64_t i = 0; i < n; ++i) {
      const double v = x[r * n + i];
      out.push_back(log ? v - std::log(sum) : std::exp(v) / sum);
    }
  }
  return out;
}

std::vector<double> uniform_values(int64_t count, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-4.0, 4.0);
  std::vector<double> v(count);
  for (double& e : v) e = dist(gen);
  return v;
}

using SoftmaxFn = Tensor (*)(const Tensor&, int64_t);

void expect_gradcheck(SoftmaxFn op, const Shape& shape, int64_t dim, uint64_t seed) {
  auto fn = [op, dim](const std::vector<Tensor>& in) { return op(in[0], dim); };
  std::vector<Tensor> inputs{grad_input(shape, seed)};
  EXPECT_GRADCHECK(fn, inputs);
}

// ---------------------------------------------------------------- values

TEST(Softmax, HandComputedRow) {
  // exp of {0, ln 2, ln 3} is {1, 2, 3}.
  Tensor x = tensor({0.0, std::log(2.0), std::log(3.0)});
  expect_values(mg::softmax(x, 0), {3}, {1.0 / 6, 2.0 / 6, 3.0 / 6}, 1e-15);
  expect_values(x.softmax(-1), {3}, {1.0 / 6, 2.0 / 6, 3.0 / 6}, 1e-15);
}

TEST(Softmax, LogSoftmaxHandComputedRow) {
  Tensor x = tensor({0.0, std::log(2.0), std::log(3.0)});
  expect_values(mg::log_softmax(x, 0), {3}, {std::log(1.0 / 6), std::log(2.0 / 6), std::log(0.5)},
                1e-15);
  expect_values(x.log_softmax(-1), {3}, {std::log(1.0 / 6), std::log(2.0 / 6), std::log(0.5)},
                1e-15);
}

TEST(Softmax, ShiftInvarianceAndUniformRows) {
  expect_values(mg::softmax(tensor({5.0f, 5.0f, 5.0f, 5.0f}), 0), {4}, {0.25, 0.25, 0.25, 0.25});
  expect_close(mg::softmax(tensor({1.0, 2.0, 3.0}) + 100.0, 0),
               mg::softmax(tensor({1.0, 2.0, 3.0}), 0), 1e-15, 1e-12);
}

TEST(Softmax, LargeLogitsDoNotOverflow) {
  const double e = std::exp(1.0);
  Tensor x = tensor({1000.0f, 1001.0f});
  expect_values(mg::softmax(x, 0), {2}, {1 / (1 + e), e / (1 + e)}, 1e-6);
  expect_values(mg::log_softmax(x, 0), {2}, {-std::log1p(e), 1 - std::log1p(e)}, 1e-6);
  Tensor neg = tensor({-1000.0, -1001.0});
  expect_values(mg::softmax(neg, 0), {2}, {e / (1 + e), 1 / (1 + e)}, 1e-15);
  expect_values(mg::log_softmax(neg, 0), {2}, {1 - std::log1p(e), -std::log1p(e)}, 1e-13);
}

TEST(Softmax, VeryNegativeLogitUnderflowsToZero) {
  Tensor x = tensor({0.0, -1000.0});
  expect_values(mg::softmax(x, 0), {2}, {1.0, 0.0});
  expect_values(mg::log_softmax(x, 0), {2}, {0.0, -1000.0});
}

TEST(Softmax, EveryDimIncludingNegative) {
  // Columns of x: {0, ln 3} and {ln 2, ln 2} and {ln 4, 0}.
  const double l2 = std::log(2.0), l3 = std::log(3.0), l4 = std::log(4.0);
  Tensor x = tensor({{0.0, l2, l4}, {l3, l2, 0.0}});
  const std::vector<double> rows{1.0 / 7, 2.0 / 7, 4.0 / 7, 3.0 / 6, 2.0 / 6, 1.0 / 6};
  const std::vector<double> cols{1.0 / 4, 0.5, 4.0 / 5, 3.0 / 4, 0.5, 1.0 / 5};
  expect_values(mg::softmax(x, 1), {2, 3}, rows, 1e-15);
  expect_values(mg::softmax(x, -1), {2, 3}, rows, 1e-15);
  expect_values(mg::softmax(x, 0), {2, 3}, cols, 1e-15);
  expect_values(mg::softmax(x, -2), {2, 3}, cols, 1e-15);
  std::vector<double> log_cols;
  for (double c : cols) log_cols.push_back(std::log(c));
  expect_values(mg::log_softmax(x, -2), {2, 3}, log_cols, 1e-15);
}

// op(x, dim) against the reference, read with `dim` permuted to the end.
void expect_matches_reference(const Tensor& x, int64_t dim, bool log, double tol) {
  SCOPED_TRACE("dim " + std::to_string(dim) + (log ? ", log_softmax" : ", softmax"));
  Shape order;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != dim) order.push_back(d);
  order.push_back(dim);
  Tensor moved = x.permute(order);
  const int64_t n = x.size(dim), rows = x.numel() / n;
  const std::vector<double> expected = reference(moved.to_vector<double>(), rows, n, log);
  Tensor got = log ? mg::log_softmax(x, dim) : mg::softmax(x, dim);
  expect_values(got.permute(order), moved.shape(), expected, tol);
}

TEST(Softmax, MiddleDimOfThreeDims) {
  Tensor x = tensor(uniform_values(2 * 3 * 4, 5), Shape{2, 3, 4});
  for (bool log : {false, true}) expect_matches_reference(x, 1, log, 1e-12);
}

TEST(Softmax, NonLastDimsInTilesOfNeighbouringRows) {
  // 37 neighbouring rows per outer index: full tiles of 16 and a remainder, and tiles that end
  // where the outer index moves on.
  Tensor x = tensor(uniform_values(3 * 5 * 37, 6), Shape{3, 5, 37});
  for (bool log : {false, true})
    for (int64_t dim : {0, 1}) expect_matches_reference(x, dim, log, 1e-12);
  Tensor x4 = tensor(uniform_values(2 * 3 * 4 * 5, 8), Shape{2, 3, 4, 5});
  for (int64_t dim : {0, 1, 2, 3}) expect_matches_reference(x4, dim, false, 1e-12);
  // Many rows: split across threads.
  Tensor big = tensor(uniform_values(40 * 64 * 30, 4), Shape{40, 64, 30});
  expect_matches_reference(big, 1, true, 1e-12);
  expect_matches_reference(big.to(kFloat32), 1, false, 1e-7);
}

TEST(Softmax, NonContiguousInputAndRows) {
  const std::vector<double> data = uniform_values(4 * 5, 9);
  Tensor base = tensor(data, Shape{4, 5});
  Tensor x = base.t();  // [5, 4], rows along dim 0 of x are the unit-stride rows of base
  ASSERT_FALSE(x.is_contiguous());
  for (bool log : {false, true}) {
    SoftmaxFn op = log ? &mg::log_softmax : &mg::softmax;
    expect_values(op(x, 0).t(), {4, 5}, reference(data, 4, 5, log), 1e-12);
    expect_close(op(x, 1), op(x.contiguous(), 1), 1e-15, 1e-12);
  }
  // A stepped slice: neither rows nor columns are unit-stride.
  Tensor stepped =
      tensor(uniform_values(6 * 6, 10), Shape{6, 6}).slice(0, 0, 6, 2).slice(1, 1, 6, 2);
  expect_close(mg::softmax(stepped, 1), mg::softmax(stepped.contiguous(), 1), 1e-15, 1e-12);
  expect_close(mg::log_softmax(stepped, 0), mg::log_softmax(stepped.contiguous(), 0), 1e-15, 1e-12);
}

TEST(Softmax, ManyRowsMatchReference) {
  // Enough rows to split across threads.
  const int64_t rows = 256, n = 300;
  const std::vector<double> data = uniform_values(rows * n, 3);
  Tensor x = tensor(data, Shape{rows, n});
  expect_values(mg::softmax(x, 1), {rows, n}, reference(data, rows, n, false), 1e-14);
  expect_values(mg::log_softmax(x, 1), {rows, n}, reference(data, rows, n, true), 1e-12);
  Tensor xf = x.to(kFloat32);
  expect_values(mg::softmax(xf, 1), {rows, n}, reference(data, rows, n, false), 1e-7);
}

TEST(Softmax, RowsOfLengthOne) {
  Tensor x = tensor({{3.0f}, {-7.5f}, {1e30f}});
  expect_values(mg::softmax(x, 1), {3, 1}, {1, 1, 1});
  expect_values(mg::log_softmax(x, 1), {3, 1}, {0, 0, 0});
}

TEST(Softmax, ZeroDimAndEmptyInputs) {
  Tensor s = tensor(std::vector<double>{4.0}, Shape{});
  expect_values(mg::softmax(s, 0), {}, {1});
  expect_values(mg::log_softmax(s, -1), {}, {0});
  expect_values(mg::softmax(zeros({2, 0}), 1), {2, 0}, {});
  expect_values(mg::softmax(zeros({0, 3}), 1), {0, 3}, {});
}

TEST(Softmax, IntegerInputsUseDefaultFloatDtype) {
  Tensor y = mg::softmax(tensor<int64_t>({1, 1}), 0);
  EXPECT_EQ(y.dtype(), default_dtype());
  expect_values(y, {2}, {0.5, 0.5});
  Tensor ly = mg::log_softmax(tensor<int32_t>({0, 0, 0, 0}), 0);
  EXPECT_EQ(ly.dtype(), default_dtype());
  expect_values(ly, {4}, {-std::log(4.0), -std::log(4.0), -std::log(4.0), -std::log(4.0)}, 1e-6);
}

TEST(Softmax, FloatDtypesArePreserved) {
  EXPECT_EQ(mg::softmax(tensor({1.0f, 2.0f}), 0).dtype(), kFloat32);
  EXPECT_EQ(mg::log_softmax(tensor({1.0, 2.0}), 0).dtype(), kFloat64);
}

TEST(Softmax, NaNAndInfinityPoisonOnlyTheirRow) {
  Tensor x = tensor({{1.0, kNaN, 2.0}, {0.0, 0.0, 0.0}, {-kInf, 0.0, 0.0}});
  const double third = 1.0 / 3;
  expect_values(mg::softmax(x, 1), {3, 3}, {kNaN, kNaN, kNaN, third, third, third, 0, 0.5, 0.5},
                1e-15);
  Tensor log_y = mg::log_softmax(x, 1);
  expect_values(log_y.narrow(0, 0, 2), {2, 3},
                {kNaN, kNaN, kNaN, std::log(third), std::log(third), std::log(third)}, 1e-15);
  // -inf stays -inf (a tolerance comparison cannot say so: inf - inf is NaN).
  EXPECT_EQ(log_y[2][0].item<double>(), -kInf);
  expect_values(log_y[2].narrow(0, 1, 2), {2}, {std::log(0.5), std::log(0.5)}, 1e-15);
}

TEST(Softmax, ErrorsNameTheOp) {
  Tensor x = zeros({2, 3});
  EXPECT_MG_ERROR(mg::softmax(x, 2), "softmax");
  EXPECT_MG_ERROR(mg::softmax(x, -3), "softmax");
  EXPECT_MG_ERROR(mg::log_softmax(x, 5), "log_softmax");
  EXPECT_MG_ERROR(mg::softmax(Tensor(), 0), "undefined");
  EXPECT_MG_ERROR(mg::log_softmax(Tensor(), 0), "undefined");
}

// ---------------------------------------------------------------- gradients

TEST(Softmax, SumOfSoftmaxHasZeroGradient) {
  Tensor x = tensor({0.3, -1.2, 2.0}).requires_grad_();
  mg::softmax(x, 0).sum().backward();
  expect_values(x.grad(), {3}, {0, 0, 0}, 1e-15);
}

TEST(Softmax, LogSoftmaxGradientOfOneEntry) {
  // d log_softmax(x)_0 / dx = e_0 - softmax(x).
  Tensor x = tensor({0.0, std::log(2.0), std::log(3.0)}).requires_grad_();
  mg::log_softmax(x, 0).select(0, 0).backward();
  expect_values(x.grad(), {3}, {1 - 1.0 / 6, -2.0 / 6, -3.0 / 6}, 1e-15);
}

TEST(Softmax, SoftmaxGradientOfOneEntry) {
  // d softmax(x)_2 / dx = s_2 (e_2 - s).
  Tensor x = tensor({0.0, std::log(2.0), std::log(3.0)}).requires_grad_();
  mg::softmax(x, 0).select(0, 2).backward();
  expect_values(x.grad(), {3}, {-0.5 / 6, -1.0 / 6, 0.5 * 0.5}, 1e-15);
}

TEST(Softmax, GradcheckSoftmaxEveryDim) {
  for (int64_t dim : {0, 1, 2, -1}) expect_gradcheck(&mg::softmax, {2, 3, 4}, dim, 31);
}

TEST(Softmax, GradcheckLogSoftmaxEveryDim) {
  for (int64_t dim : {0, 1, 2, -2}) expect_gradcheck(&mg::log_softmax, {2, 3, 4}, dim, 32);
}

TEST(Softmax, GradcheckStridedInputs) {
  for (SoftmaxFn op : {&mg::softmax, &mg::log_softmax}) {
    for (int64_t dim : {0, 1}) {
      auto fn = [op, dim](const std::vector<Tensor>& in) { return op(in[0].t(), dim); };
      std::vector<Tensor> inputs{grad_input({4, 3}, 33)};
      EXPECT_GRADCHECK(fn, inputs);
    }
  }
}

TEST(Softmax, GradcheckNonLastDimTiles) {
  // 20 neighbouring rows: one full tile of 16 and a remainder of 4.
  expect_gradcheck(&mg::softmax, {3, 2, 20}, 1, 36);
  expect_gradcheck(&mg::log_softmax, {3, 2, 20}, 0, 37);
}

TEST(Softmax, GradcheckRowsOfLengthOne) {
  expect_gradcheck(&mg::softmax, {3, 1}, 1, 34);
  expect_gradcheck(&mg::log_softmax, {3, 1}, 1, 35);
}

TEST(Softmax, BackwardAcceptsBroadcastGradient) {
  // The incoming gradient of a sum is an expanded (stride 0) tensor.
  Tensor x = tensor({{0.0, std::log(3.0)}, {1.0, 1.0}}).requires_grad_();
  mg::log_softmax(x, 1).sum().backward();
  // Per row: 1 - n * softmax.
  expect_values(x.grad(), {2, 2}, {1 - 2 * 0.25, 1 - 2 * 0.75, 0, 0}, 1e-15);
}

}  // namespace
}  // namespace mixgrad
