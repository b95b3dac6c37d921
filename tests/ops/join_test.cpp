// Joining and splitting: cat, stack, split, chunk, repeat.
#include "common/test_util.h"

namespace mg = mixgrad;
using mg::Shape;
using mg::Tensor;
using Inputs = std::vector<Tensor>;
using mg::testing::expect_values;
using mg::testing::grad_input;

namespace {

Tensor iota(const Shape& shape, double start = 0) {
  return (mg::arange(mg::numel_of(shape), mg::kFloat64) + start).view(shape);
}

// Element offset of a view's first element relative to its base tensor.
int64_t offset_in(const Tensor& view, const Tensor& base) {
  return view.storage_offset() - base.storage_offset();
}

}  // namespace

// ---- cat ----

TEST(Cat, AlongDimZero) {
  auto a = iota({2, 2}), b = iota({1, 2}, 10);
  expect_values(mg::cat({a, b}), {3, 2}, {0, 1, 2, 3, 10, 11});
}

TEST(Cat, AlongLastDimAndNegativeDim) {
  auto a = iota({2, 2}), b = iota({2, 3}, 10);
  const std::vector<double> expected{0, 1, 10, 11, 12, 2, 3, 13, 14, 15};
  expect_values(mg::cat({a, b}, 1), {2, 5}, expected);
  expect_values(mg::cat({a, b}, -1), {2, 5}, expected);
}

TEST(Cat, NonContiguousInputs) {
  auto a = iota({3, 2}).t();                    // [2, 3]: 0 2 4 / 1 3 5
  auto b = iota({2, 4}, 10).slice(1, 0, 4, 2);  // [2, 2]: 10 12 / 14 16
  expect_values(mg::cat({a, b}, 1), {2, 5}, {0, 2, 4, 10, 12, 1, 3, 5, 14, 16});
}

TEST(Cat, ThreeDimsMiddle) {
  auto a = iota({2, 1, 2}), b = iota({2, 2, 2}, 10);
  expect_values(mg::cat({a, b}, 1), {2, 3, 2}, {0, 1, 10, 11, 12, 13, 2, 3, 14, 15, 16, 17});
}

TEST(Cat, PromotesDtypes) {
  auto i32 = mg::tensor({1, 2}, mg::kInt32);
  auto i64 = mg::tensor({3, 4}, mg::kInt64);
  auto f32 = mg::tensor({0.5f});
  auto b = mg::tensor({true});
  auto r = mg::cat({i32, i64});
  EXPECT_EQ(r.dtype(), mg::kInt64);
  expect_values(r, {4}, {1, 2, 3, 4});
  auto s = mg::cat({i32, f32, b});
  EXPECT_EQ(s.dtype(), mg::kFloat32);
  expect_values(s, {4}, {1, 2, 0.5, 1});
  EXPECT_EQ(mg::cat({b, i32}).dtype(), mg::kInt32);
}

TEST(Cat, SkipsEmptyOneDimTensors) {
  auto a = iota({2, 3}), b = iota({1, 3}, 10);
  auto e = mg::empty({0}, mg::kFloat64);
  expect_values(mg::cat({e, a, e, b}, 0), {3, 3}, {0, 1, 2, 3, 4, 5, 10, 11, 12});
  expect_values(mg::cat({a, e}, 1), {2, 3}, {0, 1, 2, 3, 4, 5});
  expect_values(mg::cat({e, e}), {0}, {});
}

TEST(Cat, EmptyNonVectorInputsStillNeedMatchingShapes) {
  auto a = iota({2, 3});
  expect_values(mg::cat({a, mg::empty({0, 3}, mg::kFloat64)}), {2, 3}, {0, 1, 2, 3, 4, 5});
  EXPECT_MG_ERROR(mg::cat({a, mg::empty({0, 2}, mg::kFloat64)}), "tensor 1 has shape [0, 2]");
}

TEST(Cat, SingleTensorCopies) {
  auto a = iota({2, 2});
  auto r = mg::cat({a});
  expect_values(r, {2, 2}, {0, 1, 2, 3});
  EXPECT_FALSE(r.storage() == a.storage());
}

TEST(CatErrors, ShapeMismatchNamesTensorIndexAndShapes) {
  EXPECT_MG_ERROR(mg::cat({iota({2, 3}), iota({2, 3}), iota({2, 4})}, 0),
                  "sizes must match except in dim 0: tensor 2 has shape [2, 4] but tensor 0 has "
                  "shape [2, 3]");
  EXPECT_MG_ERROR(mg::cat({iota({2, 3}), iota({2, 3, 1})}), "tensor 1 has shape [2, 3, 1]");
}

TEST(CatErrors, EmptyListZeroDimAndBadDim) {
  EXPECT_MG_ERROR(mg::cat({}), "non-empty list");
  EXPECT_MG_ERROR(mg::cat({iota({2}), mg::scalar_tensor(1.0)}), "tensor 1 is 0-dim");
  EXPECT_MG_ERROR(mg::cat({iota({2, 2}), iota({2, 2})}, 2), "dim 2 out of range");
  EXPECT_MG_ERROR(mg::cat({iota({2}), Tensor()}), "tensor 1 is undefined");
}

TEST(CatGrad, Gradcheck) {
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::cat({in[0], in[1], in[2]}, 1);
      },
      (Inputs{grad_input({2, 1}, 1), grad_input({2, 3}, 2), grad_input({2, 2}, 3)}));
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::cat({in[0].t(), in[1]}, 0);
      },
      (Inputs{grad_input({3, 2}, 4), grad_input({1, 3}, 5)}));
}

TEST(CatGrad, EachInputGetsItsRegion) {
  auto a = mg::tensor({1.0, 2.0}).requires_grad_();
  auto b = mg::tensor({3.0, 4.0, 5.0}).requires_grad_();
  auto w = mg::tensor({10.0, 20.0, 30.0, 40.0, 50.0});
  (mg::cat({a, b}) * w).sum().backward();
  expect_values(a.grad(), {2}, {10, 20});
  expect_values(b.grad(), {3}, {30, 40, 50});
}

TEST(CatGrad, MixedDtypesAndNonDifferentiableInputs) {
  auto a = mg::tensor({1.f, 2.f}).requires_grad_();
  auto b = mg::tensor({3.0}).requires_grad_();
  auto i = mg::tensor({4, 5}, mg::kInt64);
  auto e = mg::empty({0}, mg::kFloat64);
  auto r = mg::cat({a, e, i, b});
  EXPECT_EQ(r.dtype(), mg::kFloat64);
  (r * mg::tensor({1.0, 2.0, 3.0, 4.0, 5.0})).sum().backward();
  EXPECT_EQ(a.grad().dtype(), mg::kFloat32);
  expect_values(a.grad(), {2}, {1, 2});
  expect_values(b.grad(), {1}, {5});
}

// ---- stack ----

TEST(Stack, NewLeadingDim) {
  auto a = iota({2}), b = iota({2}, 10), c = iota({2}, 20);
  expect_values(mg::stack({a, b, c}), {3, 2}, {0, 1, 10, 11, 20, 21});
  expect_values(mg::stack({mg::scalar_tensor(1.0), mg::scalar_tensor(2.0)}), {2}, {1, 2});
}

TEST(Stack, NewLastDimAndNegativeDim) {
  auto a = iota({2, 2}), b = iota({2, 2}, 10);
  const std::vector<double> expected{0, 10, 1, 11, 2, 12, 3, 13};
  expect_values(mg::stack({a, b}, 2), {2, 2, 2}, expected);
  expect_values(mg::stack({a, b}, -1), {2, 2, 2}, expected);
  expect_values(mg::stack({a, b}, 1), {2, 2, 2}, {0, 1, 10, 11, 2, 3, 12, 13});
}

TEST(Stack, EmptyVectorsAreNotSkipped) {
  auto e = mg::empty({0}, mg::kFloat64);
  expect_values(mg::stack({e, e, e}), {3, 0}, {});
}

TEST(StackErrors, ShapeMismatchAndBadDim) {
  EXPECT_MG_ERROR(mg::stack({iota({2, 3}), iota({3, 2})}),
                  "tensor 1 has shape [3, 2] but tensor 0 has shape [2, 3]");
  EXPECT_MG_ERROR(mg::stack({}), "non-empty list");
  EXPECT_MG_ERROR(mg::stack({iota({2}), iota({2})}, 2), "dim 2 out of range");
}

TEST(StackGrad, Gradcheck) {
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::stack({in[0], in[1], in[0]}, 1);
      },
      (Inputs{grad_input({2, 3}, 6), grad_input({2, 3}, 7)}));
}

// ---- split / chunk ----

TEST(Split, BySizeLastPieceShorter) {
  auto x = iota({5, 2});
  auto parts = mg::split(x, 2);
  ASSERT_EQ(parts.size(), 3u);
  expect_values(parts[0], {2, 2}, {0, 1, 2, 3});
  expect_values(parts[1], {2, 2}, {4, 5, 6, 7});
  expect_values(parts[2], {1, 2}, {8, 9});
}

TEST(Split, PiecesAreViews) {
  auto x = iota({2, 6});
  auto parts = mg::split(x, 4, 1);
  ASSERT_EQ(parts.size(), 2u);
  for (const Tensor& p : parts) {
    EXPECT_TRUE(p.storage() == x.storage());
    EXPECT_TRUE(p.is_view());
  }
  EXPECT_EQ(offset_in(parts[1], x), 4);
  expect_values(parts[1], {2, 2}, {4, 5, 10, 11});
}

TEST(Split, BySizesAlongNegativeDim) {
  auto x = iota({2, 5});
  auto parts = mg::split(x, std::vector<int64_t>{1, 0, 4}, -1);
  ASSERT_EQ(parts.size(), 3u);
  expect_values(parts[0], {2, 1}, {0, 5});
  expect_values(parts[1], {2, 0}, {});
  expect_values(parts[2], {2, 4}, {1, 2, 3, 4, 6, 7, 8, 9});
}

TEST(Split, EmptyDim) {
  auto x = mg::empty({0, 3});
  auto parts = mg::split(x, 2);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].shape(), (Shape{0, 3}));
  EXPECT_EQ(mg::split(x, 0).size(), 1u);
}

TEST(SplitErrors, BadSizes) {
  auto x = iota({2, 4});
  EXPECT_MG_ERROR(mg::split(x, 0, 1), "split_size must be positive");
  EXPECT_MG_ERROR(mg::split(x, -1), "got -1");
  EXPECT_MG_ERROR(mg::split(x, std::vector<int64_t>{1, 2}, 1),
                  "split sizes [1, 2] add up to 3 but dim 1 of shape [2, 4] has size 4");
  EXPECT_MG_ERROR(mg::split(x, std::vector<int64_t>{5, -1}, 1), "non-negative");
  EXPECT_MG_ERROR(mg::split(mg::scalar_tensor(1.0), 1), "0-dim");
  EXPECT_MG_ERROR(mg::split(x, 1, 2), "dim 2 out of range");
}

TEST(SplitGrad, Gradcheck) {
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        auto p = mg::split(in[0], 2, 1);
        return p[0] * p[1] + p[2].expand({3, 2});
      },
      Inputs{grad_input({3, 5}, 8)});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        auto p = mg::split(in[0], std::vector<int64_t>{1, 2}, 0);
        return p[1] * p[0];
      },
      Inputs{grad_input({3, 2}, 9)});
}

TEST(SplitGrad, UnusedPiecesGetZeroGradient) {
  auto x = mg::tensor({1.0, 2.0, 3.0, 4.0, 5.0}).requires_grad_();
  auto parts = mg::split(x, 2);
  (parts[1] * 3).sum().backward();
  expect_values(x.grad(), {5}, {0, 0, 3, 3, 0});
}

TEST(Chunk, NearEqualPieces) {
  auto x = iota({5});
  auto parts = mg::chunk(x, 3);
  ASSERT_EQ(parts.size(), 3u);
  expect_values(parts[0], {2}, {0, 1});
  expect_values(parts[1], {2}, {2, 3});
  expect_values(parts[2], {1}, {4});
}

TEST(Chunk, FewerPiecesWhenDimIsShort) {
  EXPECT_EQ(mg::chunk(iota({6}), 4).size(), 3u);  // pieces of 2
  EXPECT_EQ(mg::chunk(iota({2}), 5).size(), 2u);
  auto parts = mg::chunk(iota({2, 4}), 2, 1);
  ASSERT_EQ(parts.size(), 2u);
  expect_values(parts[1], {2, 2}, {2, 3, 6, 7});
}

TEST(Chunk, EmptyDimGivesRequestedCount) {
  auto parts = mg::chunk(mg::empty({2, 0}), 3, 1);
  ASSERT_EQ(parts.size(), 3u);
  for (const Tensor& p : parts) EXPECT_EQ(p.shape(), (Shape{2, 0}));
}

TEST(ChunkErrors, NonPositiveChunks) {
  EXPECT_MG_ERROR(mg::chunk(iota({4}), 0), "chunks must be positive, got 0");
  EXPECT_MG_ERROR(mg::chunk(mg::scalar_tensor(1.0), 2), "0-dim");
}

TEST(ChunkGrad, Gradcheck) {
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        auto p = mg::chunk(in[0], 2, 0);
        return p[0] - p[1] * 2;
      },
      Inputs{grad_input({4, 3}, 10)});
}

// ---- repeat ----

TEST(Repeat, TilesEachDim) {
  auto x = iota({2, 2});
  expect_values(mg::repeat(x, {2, 1}), {4, 2}, {0, 1, 2, 3, 0, 1, 2, 3});
  expect_values(mg::repeat(x, {1, 2}), {2, 4}, {0, 1, 0, 1, 2, 3, 2, 3});
  expect_values(mg::repeat(iota({2}), {2, 3}), {2, 6}, {0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1});
}

TEST(Repeat, LeadingDimsScalarAndZero) {
  auto x = iota({1, 2});
  expect_values(mg::repeat(x, {2, 1, 1}), {2, 1, 2}, {0, 1, 0, 1});
  expect_values(mg::repeat(mg::scalar_tensor(7.0), {3}), {3}, {7, 7, 7});
  expect_values(mg::repeat(mg::scalar_tensor(7.0), {}), {}, {7});
  expect_values(mg::repeat(x, {0, 2}), {0, 4}, {});
}

TEST(Repeat, NonContiguousAndIntegerInput) {
  auto x = iota({2, 3}).t();  // [3, 2]: 0 3 / 1 4 / 2 5
  expect_values(mg::repeat(x, {1, 2}), {3, 4}, {0, 3, 0, 3, 1, 4, 1, 4, 2, 5, 2, 5});
  auto i = mg::tensor({1, 2}, mg::kInt32);
  auto r = mg::repeat(i, {2});
  EXPECT_EQ(r.dtype(), mg::kInt32);
  expect_values(r, {4}, {1, 2, 1, 2});
}

TEST(RepeatErrors, TooFewOrNegativeRepeats) {
  EXPECT_MG_ERROR(mg::repeat(iota({2, 2}), {2}),
                  "got 1 repeat counts [2] for a tensor of shape [2, 2]");
  EXPECT_MG_ERROR(mg::repeat(iota({2}), {-1}), "non-negative");
}

TEST(RepeatGrad, Gradcheck) {
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::repeat(in[0], {2, 1, 3});
      },
      Inputs{grad_input({2, 2}, 11)});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::repeat(in[0].t(), {1, 2});
      },
      Inputs{grad_input({2, 3}, 12)});
}

TEST(RepeatGrad, SumsOverCopies) {
  auto x = mg::tensor({1.0, 2.0}).requires_grad_();
  mg::repeat(x, {3, 2}).sum().backward();
  expect_values(x.grad(), {2}, {6, 6});
  auto y = mg::tensor({1.0, 2.0}).requires_grad_();
  mg::repeat(y, {0}).sum().backward();
  expect_values(y.grad(), {2}, {0, 0});
}
