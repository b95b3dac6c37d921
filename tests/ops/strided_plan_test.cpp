// The strided planner every backend's loops use (backends/strided_plan.h): which dims it drops and
// merges, and that its walk visits the offsets of row-major positions in order, from any start.
#include "backends/strided_plan.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/factory.h"

namespace mixgrad::kernels {
namespace {

// A float view with the given layout over a buffer big enough for the tests' layouts (the planner
// reads only sizes and strides).
Tensor view(const Shape& sizes, const Shape& strides) {
  static const Tensor buffer = empty({4096});
  return alias_with_layout(buffer, sizes, strides, 0);
}

template <int N>
void expect_dims(const StridedPlan<N>& plan, const Shape& sizes,
                 const std::array<Shape, N>& strides) {
  EXPECT_EQ(plan.outer_sizes(), sizes);
  for (int k = 0; k < N; ++k) EXPECT_EQ(plan.outer_strides(k), strides[k]) << "operand " << k;
}

// Row-major index arithmetic on the unplanned layout: operand k's offset at `pos`.
int64_t offset_at(const Tensor& t, const Shape& shape, int64_t pos) {
  int64_t offset = 0;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    offset += pos % shape[d] * t.strides()[d];
    pos /= shape[d];
  }
  return offset;
}

// Every position's offsets from `start` on, walked both run by run and one position at a time,
// against offset_at.
template <int N>
void expect_walk(const StridedPlan<N>& plan, const std::array<const Tensor*, N>& operands,
                 int64_t start) {
  const Shape& shape = operands[0]->shape();
  StridedWalk<N> by_run(plan, start), by_one(plan, start);
  for (int64_t pos = start; pos < plan.numel();) {
    const int64_t run = by_run.run_left();
    ASSERT_GE(run, 1);
    for (int64_t i = 0; i < run; ++i, by_one.advance(1)) {
      for (int k = 0; k < N; ++k) {
        const int64_t expected = offset_at(*operands[k], shape, pos + i);
        ASSERT_EQ(by_run.offset(k) + i * plan.inner_stride(k), expected)
            << "operand " << k << " at " << pos + i;
        ASSERT_EQ(by_one.offset(k), expected) << "operand " << k << " at " << pos + i;
      }
    }
    pos += run;
    by_run.advance(run);
  }
}

TEST(StridedPlan, MergesDimsContiguousForEveryOperand) {
  const Tensor a = view({2, 3, 4}, {12, 4, 1});
  const Tensor b = view({2, 3, 4}, {24, 4, 1});  // every other [3, 4] block
  const StridedPlan<1> one({&a});
  expect_dims<1>(one, {24}, {Shape{1}});
  EXPECT_TRUE(one.contiguous());
  const StridedPlan<2> both({&a, &b});
  expect_dims<2>(both, {2, 12}, {Shape{12, 1}, Shape{24, 1}});
  EXPECT_FALSE(both.contiguous());
  EXPECT_EQ(both.numel(), 24);
  for (int64_t start : {0, 5, 12, 23}) expect_walk<2>(both, {&a, &b}, start);
}

TEST(StridedPlan, DropsSizeOneDims) {
  // The size-1 dims' strides are arbitrary and must not stop the others from merging.
  const Tensor a = view({3, 1, 4, 1}, {4, 99, 1, 7});
  const StridedPlan<1> plan({&a});
  expect_dims<1>(plan, {12}, {Shape{1}});
  EXPECT_EQ(plan.ndim(), 1);
}

TEST(StridedPlan, BroadcastDimsKeepStrideZero) {
  // b is a [4] row broadcast over 3 rows: its stride-0 dim cannot merge with its inner one.
  const Tensor out = view({3, 4}, {4, 1});
  const Tensor b = view({3, 4}, {0, 1});
  const StridedPlan<2> plan({&out, &b});
  expect_dims<2>(plan, {3, 4}, {Shape{4, 1}, Shape{0, 1}});
  expect_walk<2>(plan, {&out, &b}, 0);
  // Broadcast along every dim merges: 0 == 0 * size.
  const Tensor s = view({3, 4}, {0, 0});
  const Tensor t = view({3, 4}, {0, 0});
  expect_dims<2>(StridedPlan<2>({&s, &t}), {12}, {Shape{0}, Shape{0}});
}

TEST(StridedPlan, TransposedAndNegativeStrides) {
  const Tensor a = view({4, 3}, {1, 4});  // a transpose
  const Tensor b = view({4, 3}, {-3, -1});
  const StridedPlan<2> plan({&a, &b});
  expect_dims<2>(plan, {4, 3}, {Shape{1, 4}, Shape{-3, -1}});
  for (int64_t start : {0, 1, 7}) expect_walk<2>(plan, {&a, &b}, start);
}

TEST(StridedPlan, ZeroDimIsOneElementWithNoDims) {
  const Tensor a = view({}, {});
  const StridedPlan<1> plan({&a});
  EXPECT_EQ(plan.ndim(), 0);
  EXPECT_EQ(plan.numel(), 1);
  EXPECT_EQ(plan.inner_size(), 1);
  EXPECT_TRUE(plan.contiguous());
  StridedWalk<1> walk(plan);
  EXPECT_EQ(walk.run_left(), 1);
  EXPECT_EQ(walk.offset(0), 0);
}

TEST(StridedPlan, EmptyTensorsKeepSizeZeroDimsApart) {
  // An empty tensor's strides need not line up; a size-0 dim merges with nothing.
  const Tensor a = view({2, 0, 3}, {5, 3, 1});
  const StridedPlan<1> plan({&a});
  EXPECT_EQ(plan.numel(), 0);
  expect_dims<1>(plan, {2, 0, 3}, {Shape{5, 3, 1}});
}

TEST(StridedPlan, DimsLeftOutAreKeptApart) {
  // Rows along dim 1 of [2, 5, 3] (a softmax's): the other dims [2, 3] merge only if contiguous
  // without dim 1, which they are not here; the output's row holds 2 elements (a topk's).
  const Tensor in = view({2, 5, 3}, {15, 3, 1});
  const Tensor out = view({2, 2, 3}, {6, 3, 1});
  const StridedPlan<2> rows({&in, &out}, [](int64_t d) { return d != 1; });
  expect_dims<2>(rows, {2, 3}, {Shape{15, 1}, Shape{6, 1}});
  // With the row dim outermost, the rest merges into one.
  const Tensor t = view({5, 2, 3}, {6, 3, 1});
  expect_dims<1>(StridedPlan<1>({&t}, [](int64_t d) { return d != 0; }), {6}, {Shape{1}});
  // A reduction's slice over dims {0, 2}: 2 and 3 elements apart by 15 and 1 do not merge.
  expect_dims<1>(StridedPlan<1>({&in}, [](int64_t d) { return d != 1; }), {2, 3}, {Shape{15, 1}});
}

TEST(StridedPlan, ScaledStridesAndWalkFromAnyStart) {
  const Tensor a = view({3, 2, 2}, {8, 1, 2});  // inner dims transposed: nothing merges
  const Tensor b = view({3, 2, 2}, {4, 2, 1});
  // Four dims, none merging: carries through every level.
  const Tensor c = view({2, 3, 2, 2}, {40, 8, 1, 2});
  const Tensor e = view({2, 3, 2, 2}, {-1, 4, 2, 12});
  const StridedPlan<2> deep({&c, &e});
  EXPECT_EQ(deep.ndim(), 4);
  for (int64_t start : {0, 3, 11, 23}) expect_walk<2>(deep, {&c, &e}, start);
  StridedPlan<2> plan({&a, &b});
  EXPECT_EQ(plan.ndim(), 3);
  for (int64_t start = 0; start < plan.numel(); ++start) expect_walk<2>(plan, {&a, &b}, start);
  // Back to the start after a full walk.
  StridedWalk<2> walk(plan, 5);
  walk.restart();
  EXPECT_EQ(walk.offsets(), (std::array<int64_t, 2>{0, 0}));
  EXPECT_EQ(walk.run_left(), 2);
  plan.scale(1, 4);
  expect_dims<2>(plan, {3, 2, 2}, {Shape{8, 1, 2}, Shape{16, 8, 4}});
}

}  // namespace
}  // namespace mixgrad::kernels
