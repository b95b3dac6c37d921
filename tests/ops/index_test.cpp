// Index ops: gather, scatter(_add)(_), index_select, index_add(_), index, index_put(_),
// bincount, one_hot, nonzero, masked_select.
#include "common/test_util.h"

namespace mg = mixgrad;
using mg::Shape;
using mg::Tensor;
using Inputs = std::vector<Tensor>;
using mg::testing::expect_values;
using mg::testing::grad_input;

namespace {

// 0, 1, 2, ... as float64 (or `dtype`) of the given shape.
Tensor iota(const Shape& shape, double start = 0, mg::DType dtype = mg::kFloat64) {
  return (mg::arange(mg::numel_of(shape), mg::kFloat64) + start).view(shape).to(dtype);
}

Tensor ids(const std::vector<int64_t>& v, std::optional<Shape> shape = std::nullopt) {
  return mg::tensor(v, shape);
}

Tensor ids32(const std::vector<int32_t>& v, std::optional<Shape> shape = std::nullopt) {
  return mg::tensor(v, shape);
}

}  // namespace

// ---- gather ----

TEST(Gather, AlongDimZero) {
  // x = [[0, 1], [2, 3], [4, 5]]; out[i][j] = x[index[i][j]][j]
  expect_values(mg::gather(iota({3, 2}), 0, ids({2, 0, 1, 1}, Shape{2, 2})), {2, 2}, {4, 1, 2, 3});
}

TEST(Gather, AlongLastDimMayBeLongerThanInput) {
  // x = [[0, 1], [2, 3]]; out[i][j] = x[i][index[i][j]]
  const auto index = ids({1, 0, 1, 0, 0, 1}, Shape{2, 3});
  expect_values(mg::gather(iota({2, 2}), 1, index), {2, 3}, {1, 0, 1, 2, 2, 3});
  expect_values(mg::gather(iota({2, 2}), -1, index), {2, 3}, {1, 0, 1, 2, 2, 3});
}

TEST(Gather, IndexSmallerThanInputInOtherDims) {
  // x = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]; only the first row/2 columns of positions used.
  expect_values(mg::gather(iota({3, 3}), 0, ids({2, 1}, Shape{1, 2})), {1, 2}, {6, 4});
}

TEST(Gather, Int32Index) {
  expect_values(mg::gather(iota({2, 3}), 1, ids32({2, 2, 0, 1}, Shape{2, 2})), {2, 2},
                {2, 2, 3, 4});
}

TEST(Gather, NonContiguousInputAndIndex) {
  auto x = iota({3, 2}).t();                        // [2, 3]: [[0, 2, 4], [1, 3, 5]]
  auto index = ids({0, 1, 2, 1}, Shape{2, 2}).t();  // [[0, 2], [1, 1]]
  expect_values(mg::gather(x, 1, index), {2, 2}, {0, 4, 3, 3});
  auto rows = ids({1, 0, 1, 1}, Shape{2, 2}).t();  // [[1, 1], [0, 1]]
  expect_values(x.gather(0, rows), {2, 2}, {1, 3, 0, 3});
}

TEST(Gather, IntegerAndBoolInputs) {
  expect_values(mg::gather(iota({4}, 10, mg::kInt64), 0, ids({3, 0})), {2}, {13, 10});
  auto b = mg::tensor<bool>({true, false, true});
  auto out = mg::gather(b, 0, ids({1, 2, 2}));
  EXPECT_EQ(out.dtype(), mg::kBool);
  expect_values(out, {3}, {0, 1, 1});
}

TEST(Gather, ZeroDimAndEmpty) {
  expect_values(mg::gather(mg::scalar_tensor(5.0), 0, mg::scalar_tensor(int64_t{0})), {}, {5});
  expect_values(mg::gather(iota({2, 3}), 1, mg::empty({2, 0}, mg::kInt64)), {2, 0}, {});
}

TEST(Gather, LargeInputSplitAcrossThreads) {
  const int64_t rows = 300, cols = 200;
  std::vector<int64_t> index(rows * cols);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) index[i * cols + j] = (i * 7 + j * 3) % cols;
  auto out = mg::gather(iota({rows, cols}), 1, ids(index, Shape{rows, cols}));
  auto got = out.to_vector<double>();
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      ASSERT_EQ(got[i * cols + j], static_cast<double>(i * cols + index[i * cols + j]));
}

TEST(Gather, Errors) {
  auto x = iota({3, 2});
  EXPECT_MG_ERROR(mg::gather(x, 0, ids({3, 0}, Shape{1, 2})),
                  "gather: index 3 is out of bounds for dim 0 with size 3 (valid range [0, 2])");
  EXPECT_MG_ERROR(mg::gather(x, 1, ids({-1, 0}, Shape{1, 2})),
                  "index -1 is out of bounds for dim 1 with size 2");
  EXPECT_MG_ERROR(mg::gather(x, 0, iota({1, 2})), "indices must be int64 or int32, got float64");
  EXPECT_MG_ERROR(mg::gather(x, 0, ids({0, 1})), "must have as many dims as the input");
  EXPECT_MG_ERROR(mg::gather(x, 0, ids({0, 0, 0}, Shape{1, 3})),
                  "is larger than the input of shape [3, 2] at dim 1");
  EXPECT_MG_ERROR(mg::gather(x, 2, ids({0}, Shape{1, 1})), "dim 2 out of range");
}

TEST(Gather, BackwardAccumulatesRepeatedIndices) {
  auto x = iota({3}).requires_grad_();
  mg::gather(x, 0, ids({0, 0, 2, 0})).sum().backward();
  expect_values(x.grad(), {3}, {3, 0, 1});
}

TEST(Gather, Gradcheck) {
  const auto index = ids({0, 3, 3, 1, 2, 0}, Shape{2, 3});
  EXPECT_GRADCHECK([&](const Inputs& in) { return mg::gather(in[0], 1, index); },
                   Inputs{grad_input({2, 4})});
  EXPECT_GRADCHECK([&](const Inputs& in) { return mg::gather(in[0].t(), 0, index.t()); },
                   Inputs{grad_input({3, 4}, 2)});
}

// ---- scatter / scatter_add ----

TEST(Scatter, AlongDimZero) {
  // out[index[i][j]][j] = src[i][j] on a copy of x = [[0, 1, 2], [3, 4, 5], [6, 7, 8]].
  auto index = ids({0, 1, 2, 2, 0, 1}, Shape{2, 3});
  auto src = iota({2, 3}, 10);
  auto x = iota({3, 3});
  expect_values(mg::scatter(x, 0, index, src), {3, 3}, {10, 14, 2, 3, 11, 15, 13, 7, 12});
  expect_values(x, {3, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8});  // out of place
}

TEST(Scatter, AlongDimOneWithNumberSource) {
  auto out = mg::scatter(mg::zeros({2, 3}, mg::kFloat32), 1, ids({2, 0}, Shape{2, 1}), 7.5);
  EXPECT_EQ(out.dtype(), mg::kFloat32);
  expect_values(out, {2, 3}, {0, 0, 7.5, 7.5, 0, 0});
}

TEST(Scatter, SourceLargerThanIndex) {
  // Only src[0][0..1] is used.
  auto out =
      mg::scatter(mg::zeros({2, 2}, mg::kFloat64), 1, ids({1, 0}, Shape{1, 2}), iota({3, 3}, 1));
  expect_values(out, {2, 2}, {2, 1, 0, 0});
}

TEST(Scatter, RepeatedIndicesKeepTheLastWrite) {
  auto out = mg::scatter(mg::zeros({3}, mg::kInt64), 0, ids({1, 1, 1}), iota({3}, 4, mg::kInt64));
  expect_values(out, {3}, {0, 6, 0});
}

TEST(Scatter, Int32IndexAndNonContiguousOperands) {
  auto x = mg::zeros({3, 2}, mg::kFloat64).t();       // [2, 3] view of a transposed buffer
  auto index = ids32({2, 1, 0, 0}, Shape{2, 2}).t();  // [[2, 0], [1, 0]]
  auto src = iota({2, 2}, 1).t();                     // [[1, 3], [2, 4]]
  expect_values(mg::scatter(x, 1, index, src), {2, 3}, {3, 0, 1, 4, 2, 0});
}

TEST(ScatterAdd, RepeatedIndicesAccumulate) {
  auto out = mg::scatter_add(mg::ones({2, 3}, mg::kFloat64), 1,
                             ids({0, 0, 2, 1, 1, 1}, Shape{2, 3}), iota({2, 3}, 1));
  expect_values(out, {2, 3}, {4, 1, 4, 1, 16, 1});
}

TEST(ScatterAdd, BoolOrsAndIntegerAdds) {
  auto b = mg::scatter_add(mg::tensor<bool>({false, false, true}), 0, ids({0, 0}),
                           mg::tensor<bool>({false, true}));
  expect_values(b, {3}, {1, 0, 1});
  auto i = mg::scatter_add(mg::zeros({2}, mg::kInt32), 0, ids({1, 1, 0}), iota({3}, 5, mg::kInt32));
  expect_values(i, {2}, {7, 11});
}

TEST(ScatterAdd, LargeInputWithManyRepeats) {
  // 50000 ones into 10 bins along dim 1 for each of 4 rows: the rows run in parallel, each
  // accumulates serially.
  const int64_t rows = 4, n = 50000, bins = 10;
  std::vector<int64_t> index(rows * n);
  for (int64_t i = 0; i < rows * n; ++i) index[i] = i % bins;
  auto out = mg::scatter_add(mg::zeros({rows, bins}, mg::kFloat64), 1, ids(index, Shape{rows, n}),
                             mg::ones({rows, n}, mg::kFloat64));
  expect_values(out, {rows, bins}, std::vector<double>(rows * bins, n / bins));
}

TEST(Scatter, InPlaceFormsWriteIntoSelf) {
  auto x = mg::zeros({2, 3}, mg::kFloat64);
  const auto v0 = x.version();
  Tensor& r = mg::scatter_(x, 1, ids({1, 2}, Shape{2, 1}), iota({2, 1}, 1));
  EXPECT_TRUE(r.is_same(x));
  EXPECT_GT(x.version(), v0);
  expect_values(x, {2, 3}, {0, 1, 0, 0, 0, 2});
  mg::scatter_add_(x, 1, ids({1, 1}, Shape{1, 2}), iota({1, 2}, 10));
  expect_values(x, {2, 3}, {0, 22, 0, 0, 0, 2});
}

TEST(Scatter, InPlaceIntoStridedView) {
  auto base = mg::zeros({3, 4}, mg::kFloat64);
  auto cols = base.slice(1, 0, 4, 2);  // columns 0 and 2
  mg::scatter_(cols, 0, ids({2, 0}, Shape{1, 2}), 9.0);
  expect_values(base, {3, 4}, {0, 0, 9, 0, 0, 0, 0, 0, 9, 0, 0, 0});
}

TEST(Scatter, ErrorLeavesTargetUntouched) {
  auto x = mg::zeros({3}, mg::kFloat64);
  EXPECT_MG_ERROR(mg::scatter_(x, 0, ids({0, 5}), iota({2}, 1)),
                  "scatter_: index 5 is out of bounds for dim 0 with size 3");
  expect_values(x, {3}, {0, 0, 0});
}

TEST(Scatter, Errors) {
  auto x = mg::zeros({2, 3}, mg::kFloat64);
  auto src = iota({2, 3});
  EXPECT_MG_ERROR(mg::scatter(x, 1, ids({3}, Shape{1, 1}), src),
                  "scatter: index 3 is out of bounds for dim 1 with size 3");
  EXPECT_MG_ERROR(mg::scatter_add(x, 0, ids({-2}, Shape{1, 1}), src),
                  "scatter_add: index -2 is out of bounds for dim 0 with size 2");
  EXPECT_MG_ERROR(mg::scatter_add_(x, 0, ids({7}, Shape{1, 1}), src),
                  "scatter_add_: index 7 is out of bounds");
  EXPECT_MG_ERROR(mg::scatter(x, 0, mg::tensor<bool>({true}, Shape{1, 1}), src),
                  "indices must be int64 or int32, got bool");
  EXPECT_MG_ERROR(mg::scatter(x, 0, ids({0}, Shape{1, 1}), src.to(mg::kFloat32)),
                  "source of dtype float32 does not match the tensor's dtype float64");
  EXPECT_MG_ERROR(mg::scatter(x, 0, ids({0, 1, 0, 1}, Shape{1, 4}), iota({1, 4})),
                  "is larger than the input of shape [2, 3] at dim 1");
  EXPECT_MG_ERROR(mg::scatter(x, 0, ids({0, 1, 0, 1}, Shape{4, 1}), src),
                  "is larger than the source of shape [2, 3] at dim 0");
  EXPECT_MG_ERROR(mg::scatter(x, 0, ids({0, 1}, Shape{1, 2}), iota({2})),
                  "source of shape [2] must have as many dims");
  EXPECT_MG_ERROR(mg::scatter(x, -3, ids({0}, Shape{1, 1}), src), "dim -3 out of range");
}

TEST(Scatter, Gradcheck) {
  const auto index = ids({2, 0, 1, 1, 2, 0}, Shape{2, 3});  // no repeats along dim 0 per column
  EXPECT_GRADCHECK([&](const Inputs& in) { return mg::scatter(in[0], 0, index, in[1]); },
                   (Inputs{grad_input({3, 3}, 1), grad_input({2, 3}, 2)}));
  EXPECT_GRADCHECK([&](const Inputs& in) { return mg::scatter(in[0], 0, index, in[1]); },
                   (Inputs{grad_input({3, 3}, 3), grad_input({3, 4}, 4)}));  // larger source
}

TEST(Scatter, GradientOfNumberSourceIsTheSumOfScatteredGradients) {
  auto x = iota({2, 2}).requires_grad_();
  auto v = mg::scalar_tensor(3.0, mg::kFloat64).requires_grad_();
  auto out = mg::scatter(x, 1, ids({0, 1}, Shape{2, 1}), v);
  (out * iota({2, 2}, 1)).sum().backward();  // weights [[1, 2], [3, 4]]
  expect_values(x.grad(), {2, 2}, {0, 2, 3, 0});
  expect_values(v.grad(), {}, {5});
}

TEST(ScatterAdd, Gradcheck) {
  const auto index = ids({0, 0, 2, 1, 1, 1}, Shape{2, 3});  // repeats accumulate
  EXPECT_GRADCHECK([&](const Inputs& in) { return mg::scatter_add(in[0], 1, index, in[1]); },
                   (Inputs{grad_input({2, 3}, 5), grad_input({2, 4}, 6)}));
}

TEST(ScatterAdd, InPlaceOnNonLeafRecordsGradient) {
  auto a = iota({2, 2}, 1).requires_grad_();
  auto src = iota({1, 2}, 1).requires_grad_();
  auto x = a * 2.0;
  mg::scatter_add_(x, 0, ids({1, 1}, Shape{1, 2}), src * src);
  expect_values(x, {2, 2}, {2, 4, 7, 12});
  x.sum().backward();
  expect_values(a.grad(), {2, 2}, {2, 2, 2, 2});
  expect_values(src.grad(), {1, 2}, {2, 4});
}

// ---- index_select ----

TEST(IndexSelect, WholeRows) {
  // Rows of 8 elements take the row-copy path.
  auto out = mg::index_select(iota({4, 8}), 0, ids({3, 0, 3}));
  std::vector<double> expected;
  for (int64_t r : {3, 0, 3})
    for (int64_t c = 0; c < 8; ++c) expected.push_back(static_cast<double>(r * 8 + c));
  expect_values(out, {3, 8}, expected);
}

TEST(IndexSelect, ShortRowsAndInnerDims) {
  auto x = iota({2, 3});  // [[0, 1, 2], [3, 4, 5]]
  expect_values(mg::index_select(x, 1, ids({2, 0})), {2, 2}, {2, 0, 5, 3});
  expect_values(mg::index_select(x, -1, ids32({1, 1, 1})), {2, 3}, {1, 1, 1, 4, 4, 4});
  expect_values(mg::index_select(x, 0, ids({1})), {1, 3}, {3, 4, 5});
  expect_values(x.index_select(0, ids({1, 0})), {2, 3}, {3, 4, 5, 0, 1, 2});
}

TEST(IndexSelect, MiddleDimWithStridedOuterDims) {
  // [2, 3, 8] taken every other batch of a [4, 3, 8] tensor: rows are dense, batches strided.
  auto x = iota({4, 3, 8}).slice(0, 0, 4, 2);
  auto out = mg::index_select(x, 1, ids({2, 0}));
  std::vector<double> expected;
  for (int64_t b : {0, 2})
    for (int64_t r : {2, 0})
      for (int64_t c = 0; c < 8; ++c) expected.push_back(static_cast<double>(b * 24 + r * 8 + c));
  expect_values(out, {2, 2, 8}, expected);
}

TEST(IndexSelect, NonContiguousInputAndIndex) {
  auto x = iota({3, 2}).t();                            // [[0, 2, 4], [1, 3, 5]]
  auto index = ids({2, 9, 0, 9, 1}).slice(0, 0, 5, 2);  // [2, 0, 1]
  expect_values(mg::index_select(x, 1, index), {2, 3}, {4, 0, 2, 5, 1, 3});
  expect_values(mg::index_select(x, 0, index.slice(0, 2, 3)), {1, 3}, {1, 3, 5});
}

TEST(IndexSelect, ZeroDimIndexAndInput) {
  expect_values(mg::index_select(iota({3, 2}), 0, mg::scalar_tensor(int64_t{2})), {1, 2}, {4, 5});
  expect_values(mg::index_select(mg::scalar_tensor(4.0), 0, ids({0})), {}, {4});
  expect_values(mg::index_select(iota({3, 2}), 0, mg::empty({0}, mg::kInt64)), {0, 2}, {});
}

TEST(IndexSelect, LargeEmbeddingLookup) {
  const int64_t vocab = 5000, dim = 16, n = 4000;
  std::vector<int64_t> index(n);
  for (int64_t i = 0; i < n; ++i) index[i] = (i * 37) % vocab;
  auto got = mg::index_select(iota({vocab, dim}), 0, ids(index)).to_vector<double>();
  ASSERT_EQ(static_cast<int64_t>(got.size()), n * dim);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < dim; ++c)
      ASSERT_EQ(got[i * dim + c], static_cast<double>(index[i] * dim + c));
}

TEST(IndexSelect, Errors) {
  auto x = iota({5, 2});
  EXPECT_MG_ERROR(mg::index_select(x, 0, ids({1, 7})),
                  "index_select: index 7 is out of bounds for dim 0 with size 5");
  EXPECT_MG_ERROR(mg::index_select(x, 1, ids32({-1})),
                  "index_select: index -1 is out of bounds for dim 1 with size 2");
  EXPECT_MG_ERROR(mg::index_select(x, 0, iota({2})), "indices must be int64 or int32");
  EXPECT_MG_ERROR(mg::index_select(x, 0, ids({0, 1}, Shape{1, 2})),
                  "index must be 0-D or 1-D, got shape [1, 2]");
  EXPECT_MG_ERROR(mg::index_select(x, 2, ids({0})), "dim 2 out of range");
  EXPECT_MG_ERROR(mg::index_select(mg::scalar_tensor(1.0), 0, ids({0, 0})),
                  "needs exactly one index");
}

TEST(IndexSelect, BackwardAccumulatesRepeatedRows) {
  auto x = iota({3, 8}).requires_grad_();
  mg::index_select(x, 0, ids({2, 2, 0})).sum().backward();
  std::vector<double> expected(24, 0);
  for (int64_t c = 0; c < 8; ++c) {
    expected[c] = 1;
    expected[16 + c] = 2;
  }
  expect_values(x.grad(), {3, 8}, expected);
}

TEST(IndexSelect, Gradcheck) {
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::index_select(in[0], 1, ids({2, 0, 2}));
      },
      Inputs{grad_input({2, 3})});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::index_select(in[0], 0, ids32({1, 1, 0}));
      },
      Inputs{grad_input({2, 8}, 2)});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::index_select(in[0].t(), 0, ids({1, 0}));
      },
      Inputs{grad_input({3, 2}, 3)});
}

// ---- index_add ----

TEST(IndexAdd, RowsWithRepeatsAndAlpha) {
  auto x = mg::ones({3, 8}, mg::kFloat64);
  auto src = iota({3, 8});
  auto out = mg::index_add(x, 0, ids({2, 0, 2}), src, 2.0);
  std::vector<double> expected(24);
  for (int64_t c = 0; c < 8; ++c) {
    expected[c] = 1 + 2 * (8 + c);
    expected[8 + c] = 1;
    expected[16 + c] = 1 + 2 * (c + 16 + c);
  }
  expect_values(out, {3, 8}, expected);
  expect_values(x, {3, 8}, std::vector<double>(24, 1));
}

TEST(IndexAdd, InnerDimWithInt32Index) {
  auto x = mg::zeros({2, 3}, mg::kFloat64);
  auto src = iota({2, 4}, 1);  // [[1, 2, 3, 4], [5, 6, 7, 8]]
  expect_values(mg::index_add(x, 1, ids32({0, 2, 0, 0}), src), {2, 3}, {8, 0, 2, 20, 0, 6});
}

TEST(IndexAdd, IntegerTensorWithIntegralAlpha) {
  auto out = mg::index_add(mg::zeros({3}, mg::kInt64), 0, ids({1, 1}), iota({2}, 1, mg::kInt64), 3);
  expect_values(out, {3}, {0, 9, 0});
}

TEST(IndexAdd, InPlaceIntoTransposedView) {
  auto base = mg::zeros({3, 2}, mg::kFloat64);
  auto x = base.t();  // [2, 3]
  mg::index_add_(x, 1, ids({2, 2}), iota({2, 2}, 1));
  expect_values(base, {3, 2}, {0, 0, 0, 0, 3, 7});
}

TEST(IndexAdd, LargeRowsSplitByColumns) {
  const int64_t rows = 50, width = 1024, n = 64;
  std::vector<int64_t> index(n);
  for (int64_t i = 0; i < n; ++i) index[i] = i % 5;  // rows 0..4, repeated
  auto out = mg::index_add(mg::zeros({rows, width}, mg::kFloat64), 0, ids(index),
                           mg::ones({n, width}, mg::kFloat64));
  auto got = out.to_vector<double>();
  for (int64_t r = 0; r < rows; ++r) {
    const double expected = r < 5 ? static_cast<double>((n - r + 4) / 5) : 0.0;
    for (int64_t c = 0; c < width; ++c) ASSERT_EQ(got[r * width + c], expected) << r << "," << c;
  }
}

TEST(IndexAdd, Errors) {
  auto x = mg::zeros({3, 2}, mg::kFloat64);
  EXPECT_MG_ERROR(mg::index_add(x, 0, ids({3}), iota({1, 2})),
                  "index_add: index 3 is out of bounds for dim 0 with size 3");
  EXPECT_MG_ERROR(mg::index_add_(x, 0, ids({-4}), iota({1, 2})),
                  "index_add_: index -4 is out of bounds for dim 0 with size 3");
  EXPECT_MG_ERROR(mg::index_add(x, 0, iota({1}), iota({1, 2})), "indices must be int64 or int32");
  EXPECT_MG_ERROR(mg::index_add(x, 0, ids({0, 1}), iota({1, 2})),
                  "source has 1 slices along dim 0 but the index has 2 elements");
  EXPECT_MG_ERROR(mg::index_add(x, 0, ids({0}), iota({1, 3})),
                  "source of shape [1, 3] does not match the tensor of shape [3, 2] at dim 1");
  EXPECT_MG_ERROR(mg::index_add(x, 0, ids({0}), iota({2})), "must have as many dims");
  EXPECT_MG_ERROR(mg::index_add(x, 0, ids({0}), iota({1, 2}, 0, mg::kFloat32)),
                  "source of dtype float32 does not match");
  EXPECT_MG_ERROR(mg::index_add(x, 5, ids({0}), iota({1, 2})), "dim 5 out of range");
  EXPECT_MG_ERROR(
      mg::index_add(mg::zeros({2}, mg::kInt64), 0, ids({0}), mg::ones({1}, mg::kInt64), 0.5),
      "alpha 0.5");
}

TEST(IndexAdd, Gradcheck) {
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::index_add(in[0], 1, ids({2, 0, 2}), in[1], -1.5);
      },
      (Inputs{grad_input({2, 3}, 1), grad_input({2, 3}, 2)}));
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::index_add(in[0], 0, ids32({1, 1}), in[1]);
      },
      (Inputs{grad_input({2, 8}, 3), grad_input({2, 8}, 4)}));
}

TEST(IndexAdd, InPlaceOnNonLeafRecordsGradient) {
  auto a = mg::zeros({3}, mg::kFloat64).requires_grad_();
  auto src = iota({2}, 1).requires_grad_();
  auto x = a + 1.0;
  mg::index_add_(x, 0, ids({2, 2}), src, 2.0);
  expect_values(x, {3}, {1, 1, 7});
  (x * iota({3}, 1)).sum().backward();
  expect_values(a.grad(), {3}, {1, 2, 3});
  expect_values(src.grad(), {2}, {6, 6});
}

TEST(IndexAdd, InPlaceOnLeafRequiringGradIsRejected) {
  auto x = mg::zeros({3}, mg::kFloat64).requires_grad_();
  EXPECT_MG_ERROR(mg::index_add_(x, 0, ids({0}), iota({1})), "a leaf tensor that requires grad");
}

// ---- index (advanced indexing) ----

TEST(Index, OneTensorSelectsRows) {
  auto x = iota({4, 3});
  expect_values(mg::index(x, {ids({2, 0, 2})}), {3, 3}, {6, 7, 8, 0, 1, 2, 6, 7, 8});
}

TEST(Index, TensorsBroadcastTogether) {
  // x[[[0], [2]], [1, 3]] on x = iota([3, 4]): rows 0 and 2, columns 1 and 3.
  auto out = mg::index(iota({3, 4}), {ids({0, 2}, Shape{2, 1}), ids32({1, 3})});
  expect_values(out, {2, 2}, {1, 3, 9, 11});
}

TEST(Index, NegativeIndicesWrap) {
  auto x = iota({4, 2});
  expect_values(mg::index(x, {ids({-1, -4, 1})}), {3, 2}, {6, 7, 0, 1, 2, 3});
  expect_values(mg::index(x, {ids({-1}), ids({-2})}), {1}, {6});
}

TEST(Index, LeadingDimsKeepTheRest) {
  // x [2, 3, 2]: x[[1, 0], [2, 2]] -> [2, 2] (kept last dim)
  expect_values(mg::index(iota({2, 3, 2}), {ids({1, 0}), ids({2, 2})}), {2, 2}, {10, 11, 4, 5});
}

TEST(Index, ZeroDimIndexAndNonContiguousInput) {
  auto x = iota({2, 3}).t();  // [[0, 3], [1, 4], [2, 5]]
  expect_values(mg::index(x, {mg::scalar_tensor(int64_t{2})}), {2}, {2, 5});
  expect_values(mg::index(x, {ids({0, 2}, Shape{2, 1}), ids({1})}), {2, 1}, {3, 5});
}

TEST(Index, Errors) {
  auto x = iota({4, 2});
  EXPECT_MG_ERROR(mg::index(x, {ids({4})}),
                  "index: index 4 is out of bounds for dim 0 with size 4 (valid range [-4, 3])");
  EXPECT_MG_ERROR(mg::index(x, {ids({0}), ids({-3})}),
                  "index: index -3 is out of bounds for dim 1 with size 2");
  EXPECT_MG_ERROR(mg::index(x, {iota({1})}), "indices must be int64 or int32, got float64");
  EXPECT_MG_ERROR(mg::index(x, {ids({0, 1}), ids({0, 1, 0})}), "index: shapes [2] and [3]");
  EXPECT_MG_ERROR(mg::index(x, {ids({0}), ids({0}), ids({0})}), "too many indices (3)");
  EXPECT_MG_ERROR(mg::index(x, {}), "expected at least one index tensor");
  EXPECT_MG_ERROR(mg::index(mg::zeros({0, 2}), {ids({0})}), "(the dim is empty)");
}

TEST(Index, BackwardAccumulatesRepeats) {
  auto x = iota({3, 2}).requires_grad_();
  mg::index(x, {ids({0, -3, 2})}).sum().backward();
  expect_values(x.grad(), {3, 2}, {2, 2, 0, 0, 1, 1});
}

TEST(Index, Gradcheck) {
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::index(in[0], {ids({2, -1, 0}, Shape{3, 1}), ids({1, 1})});
      },
      Inputs{grad_input({3, 2, 2})});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::index(in[0].t(), {ids32({1, 0, 1})});
      },
      Inputs{grad_input({2, 3}, 2)});
}

// ---- index_put ----

TEST(IndexPut, WritesValues) {
  auto x = mg::zeros({3, 2}, mg::kFloat64);
  auto out = mg::index_put(x, {ids({2, 0}), ids({1, 0})}, iota({2}, 5));
  expect_values(out, {3, 2}, {6, 0, 0, 0, 0, 5});
  expect_values(x, {3, 2}, {0, 0, 0, 0, 0, 0});
}

TEST(IndexPut, BroadcastsValuesOverRows) {
  auto x = mg::zeros({3, 2}, mg::kFloat64);
  expect_values(mg::index_put(x, {ids({-1, 0})}, iota({2}, 1)), {3, 2}, {1, 2, 0, 0, 1, 2});
  expect_values(mg::index_put(x, {ids({1})}, 4.0), {3, 2}, {0, 0, 4, 4, 0, 0});
}

TEST(IndexPut, AccumulateAddsRepeats) {
  auto x = mg::ones({3}, mg::kInt64);
  expect_values(mg::index_put(x, {ids32({2, 0, 2, 2})}, iota({4}, 1, mg::kInt64), true), {3},
                {3, 1, 9});
}

TEST(IndexPut, InPlaceIncludingStridedTarget) {
  auto x = mg::zeros({2, 3}, mg::kFloat64);
  Tensor& r = mg::index_put_(x, {ids({1}), ids({2})}, 7.0);
  EXPECT_TRUE(r.is_same(x));
  expect_values(x, {2, 3}, {0, 0, 0, 0, 0, 7});
  auto base = mg::zeros({3, 2}, mg::kFloat64);
  auto t = base.t();  // [2, 3], cannot be flattened in place
  mg::index_put_(t, {ids({0, 1}), ids({2, 2})}, iota({2}, 1), true);
  mg::index_put_(t, {ids({0}), ids({2})}, 1.0, true);
  expect_values(base, {3, 2}, {0, 0, 0, 0, 2, 2});
}

TEST(IndexPut, Errors) {
  auto x = mg::zeros({3, 2}, mg::kFloat64);
  EXPECT_MG_ERROR(mg::index_put(x, {ids({3})}, 1.0),
                  "index_put: index 3 is out of bounds for dim 0 with size 3");
  EXPECT_MG_ERROR(mg::index_put_(x, {ids({0}), ids({-3})}, 1.0),
                  "index_put_: index -3 is out of bounds for dim 1 with size 2");
  EXPECT_MG_ERROR(mg::index_put(x, {mg::tensor<bool>({true})}, 1.0),
                  "indices must be int64 or int32, got bool");
  EXPECT_MG_ERROR(mg::index_put(x, {ids({0, 1})}, iota({3})), "index_put: shapes [3] and [2, 2]");
  EXPECT_MG_ERROR(mg::index_put(x, {ids({0})}, iota({2, 1, 2})),
                  "values of shape [2, 1, 2] cannot be broadcast to the indexed shape [1, 2]");
  EXPECT_MG_ERROR(mg::index_put(x, {ids({0})}, iota({2}, 0, mg::kFloat32)),
                  "source of dtype float32 does not match");
  EXPECT_MG_ERROR(mg::index_put(x, {ids({0}), ids({0}), ids({0})}, 1.0), "too many indices");
}

TEST(IndexPut, Gradcheck) {
  // Without accumulate the overwritten x entries get no gradient; indices are distinct.
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::index_put(in[0], {ids({2, 0}), ids({1, -1})}, in[1]);
      },
      (Inputs{grad_input({3, 2}, 1), grad_input({2}, 2)}));
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::index_put(in[0], {ids({1, 1, 0})}, in[1], true);
      },
      (Inputs{grad_input({2, 3}, 3), grad_input({3}, 4)}));  // values broadcast over rows
}

TEST(IndexPut, GradientOfOverwrittenPositionsIsZero) {
  auto x = iota({3}).requires_grad_();
  auto v = iota({1}, 5).requires_grad_();
  (mg::index_put(x, {ids({1})}, v) * iota({3}, 1)).sum().backward();
  expect_values(x.grad(), {3}, {1, 0, 3});
  expect_values(v.grad(), {1}, {2});
}

// ---- bincount ----

TEST(Bincount, Counts) {
  auto out = mg::bincount(ids({1, 3, 1, 0, 3, 3}));
  EXPECT_EQ(out.dtype(), mg::kInt64);
  expect_values(out, {4}, {1, 2, 0, 3});
  expect_values(mg::bincount(ids32({2, 2})), {3}, {0, 0, 2});
}

TEST(Bincount, MinlengthAndEmptyInput) {
  expect_values(mg::bincount(ids({1}), Tensor(), 4), {4}, {0, 1, 0, 0});
  expect_values(mg::bincount(ids({3, 0}), Tensor(), 2), {4}, {1, 0, 0, 1});
  expect_values(mg::bincount(mg::empty({0}, mg::kInt64), Tensor(), 3), {3}, {0, 0, 0});
  expect_values(mg::bincount(mg::empty({0}, mg::kInt64)), {0}, {});
}

TEST(Bincount, Weights) {
  auto w = mg::tensor<float>({0.5f, 1.0f, 2.0f});
  auto out = mg::bincount(ids({2, 0, 2}), w);
  EXPECT_EQ(out.dtype(), mg::kFloat32);
  expect_values(out, {3}, {1, 0, 2.5});
  auto wi = mg::bincount(ids({1, 1}), ids({3, 4}));
  EXPECT_EQ(wi.dtype(), mg::kFloat64);
  expect_values(wi, {2}, {0, 7});
}

TEST(Bincount, Errors) {
  EXPECT_MG_ERROR(mg::bincount(ids({1, -2})),
                  "bincount: input values must be non-negative, got -2");
  EXPECT_MG_ERROR(mg::bincount(ids({1, 2}, Shape{1, 2})), "expects a 1-D tensor, got shape [1, 2]");
  EXPECT_MG_ERROR(mg::bincount(iota({2})), "expects an int64 or int32 tensor, got float64");
  EXPECT_MG_ERROR(mg::bincount(ids({1, 2}), iota({3})), "weights of shape [3] do not match");
  EXPECT_MG_ERROR(mg::bincount(ids({1}), Tensor(), -1), "minlength must be non-negative");
}

// ---- one_hot ----

TEST(OneHot, InfersNumberOfClasses) {
  auto out = mg::one_hot(ids({2, 0, 1}));
  EXPECT_EQ(out.dtype(), mg::kInt64);
  expect_values(out, {3, 3}, {0, 0, 1, 1, 0, 0, 0, 1, 0});
}

TEST(OneHot, ExplicitClassesAndMultiDimInput) {
  expect_values(mg::one_hot(ids32({1, 0, 0, 3}, Shape{2, 2}), 4), {2, 2, 4},
                {0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1});
  expect_values(mg::one_hot(mg::scalar_tensor(int64_t{1}), 2), {2}, {0, 1});
  expect_values(mg::one_hot(mg::empty({0}, mg::kInt64), 3), {0, 3}, {});
}

TEST(OneHot, Errors) {
  EXPECT_MG_ERROR(mg::one_hot(ids({0, 3}), 3), "one_hot: class value 3 is out of range");
  EXPECT_MG_ERROR(mg::one_hot(ids({0, -1})), "class values must be non-negative, got -1");
  EXPECT_MG_ERROR(mg::one_hot(mg::empty({0}, mg::kInt64)), "cannot infer the number of classes");
  EXPECT_MG_ERROR(mg::one_hot(iota({2})), "expects an int64 or int32 tensor, got float64");
  EXPECT_MG_ERROR(mg::one_hot(ids({0}), -2), "num_classes must be -1 or non-negative");
}

// ---- nonzero ----

TEST(Nonzero, CoordinatesInRowMajorOrder) {
  auto x = mg::tensor({{0.0, 1.5, 0.0}, {-2.0, 0.0, 3.0}});
  auto out = mg::nonzero(x);
  EXPECT_EQ(out.dtype(), mg::kInt64);
  expect_values(out, {3, 2}, {0, 1, 1, 0, 1, 2});
}

TEST(Nonzero, BoolNaNAndNonContiguous) {
  expect_values(mg::nonzero(mg::tensor<bool>({false, true, true})), {2, 1}, {1, 2});
  expect_values(mg::nonzero(mg::tensor({0.0, std::nan("")})), {1, 1}, {1});
  auto x = mg::tensor({{0, 1}, {2, 0}}, mg::kInt32).t();  // [[0, 2], [1, 0]]
  expect_values(mg::nonzero(x), {2, 2}, {0, 1, 1, 0});
}

TEST(Nonzero, ZeroDimAndAllZeros) {
  expect_values(mg::nonzero(mg::scalar_tensor(3.0)), {1, 0}, {});
  expect_values(mg::nonzero(mg::scalar_tensor(0.0)), {0, 0}, {});
  expect_values(mg::nonzero(mg::zeros({2, 3})), {0, 2}, {});
}

TEST(Nonzero, LargeInputKeepsOrderAcrossChunks) {
  const int64_t n = 200000;
  std::vector<int64_t> v(n, 0);
  std::vector<double> expected;
  for (int64_t i = 0; i < n; i += 7) {
    v[i] = 1;
    expected.push_back(static_cast<double>(i / 400));
    expected.push_back(static_cast<double>(i % 400));
  }
  expect_values(mg::nonzero(ids(v, Shape{n / 400, 400})),
                {static_cast<int64_t>(expected.size() / 2), 2}, expected);
}

// ---- masked_select ----

TEST(MaskedSelect, SelectsInRowMajorOrder) {
  auto mask = mg::tensor<bool>({true, false, false, true, true, false}, Shape{2, 3});
  expect_values(mg::masked_select(iota({2, 3}), mask), {3}, {0, 3, 4});
}

TEST(MaskedSelect, BroadcastsMaskAndInput) {
  auto row_mask = mg::tensor<bool>({false, true, true});
  expect_values(mg::masked_select(iota({2, 3}), row_mask), {4}, {1, 2, 4, 5});
  auto col_mask = mg::tensor<bool>({true, false, true}, Shape{3, 1});
  expect_values(mg::masked_select(iota({2}, 10), col_mask), {4}, {10, 11, 10, 11});
}

TEST(MaskedSelect, NonContiguousInput) {
  auto x = iota({3, 2}).t();  // [[0, 2, 4], [1, 3, 5]]
  auto mask = mg::tensor<bool>({false, true, true, true, false, false}, Shape{2, 3});
  expect_values(mg::masked_select(x, mask), {3}, {2, 4, 1});
}

TEST(MaskedSelect, Errors) {
  EXPECT_MG_ERROR(mg::masked_select(iota({2}), ids({1, 0})), "mask must be bool, got int64");
  EXPECT_MG_ERROR(mg::masked_select(iota({2}), mg::tensor<bool>({true, false, true})),
                  "masked_select: shapes [2] and [3]");
}

TEST(MaskedSelect, Gradcheck) {
  auto mask = mg::tensor<bool>({true, false, true, true, false, true}, Shape{2, 3});
  EXPECT_GRADCHECK([&](const Inputs& in) { return mg::masked_select(in[0], mask); },
                   Inputs{grad_input({2, 3})});
  EXPECT_GRADCHECK([&](const Inputs& in) { return mg::masked_select(in[0], mask); },
                   Inputs{grad_input({3}, 2)});  // broadcast input: gradients sum over rows
}
