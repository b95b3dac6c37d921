// grouped_matmul and the CPU grouped_gemm kernel behind it: values against a per-group loop of
// matmul, empty groups, layouts, gradients and errors.
#include "common/test_util.h"

namespace mg = mixgrad;
using mg::Shape;
using mg::Tensor;
using Inputs = std::vector<Tensor>;
using mg::testing::expect_close;
using mg::testing::expect_values;
using mg::testing::grad_input;

namespace {

Tensor sizes_of(std::vector<int64_t> sizes) {
  return mg::tensor(sizes);
}

Tensor randn_t(const Shape& shape, uint64_t seed, mg::DType dtype = mg::kFloat64) {
  mg::Generator gen(seed);
  return mg::randn(shape, dtype, &gen);
}

// The definition: each group's rows times its weight (plus its bias row), one matmul per group.
Tensor per_group_reference(const Tensor& x, const Tensor& w, const std::vector<int64_t>& sizes,
                           const Tensor& bias = Tensor()) {
  std::vector<Tensor> parts;
  int64_t offset = 0;
  for (size_t g = 0; g < sizes.size(); ++g) {
    const int64_t gi = static_cast<int64_t>(g);
    Tensor part = mg::matmul(x.narrow(0, offset, sizes[g]), w.select(0, gi));
    if (bias.defined()) part = part + bias.select(0, gi);
    parts.push_back(part);
    offset += sizes[g];
  }
  return mg::cat(parts, 0);
}

// dW_g = X_g^T dY_g for every group (zero for empty groups), by matmul.
Tensor per_group_weight_grad(const Tensor& x, const Tensor& dy, const std::vector<int64_t>& sizes) {
  std::vector<Tensor> parts;
  int64_t offset = 0;
  for (int64_t size : sizes) {
    parts.push_back(mg::matmul(x.narrow(0, offset, size).t(), dy.narrow(0, offset, size)));
    offset += size;
  }
  return mg::stack(parts, 0);
}

int64_t total(const std::vector<int64_t>& sizes) {
  int64_t n = 0;
  for (int64_t s : sizes) n += s;
  return n;
}

// Group sizes that put some products below the kernel's BLAS cut-over and some above it, with
// empty groups first, in the middle and last.
const std::vector<int64_t> kMixedSizes{0, 3, 20, 0, 1, 13, 0};

}  // namespace

// ---- values ----

TEST(GroupedMatmul, HandComputed) {
  // Rows 0-1 use w[0] = [[1, 0], [0, 2]], row 2 uses w[1] = [[1, 1], [1, -1]].
  auto x = mg::tensor({{1.f, 2.f}, {3.f, 4.f}, {5.f, 6.f}});
  auto w = mg::tensor(std::vector<float>{1.f, 0.f, 0.f, 2.f, 1.f, 1.f, 1.f, -1.f}, Shape{2, 2, 2});
  auto y = mg::grouped_matmul(x, w, sizes_of({2, 1}));
  EXPECT_EQ(y.dtype(), mg::kFloat32);
  expect_values(y, {3, 2}, {1, 4, 3, 8, 11, -1});
}

TEST(GroupedMatmul, HandComputedWithBias) {
  auto x = mg::tensor({{1.f, 2.f}, {3.f, 4.f}, {5.f, 6.f}});
  auto w = mg::tensor(std::vector<float>{1.f, 0.f, 0.f, 2.f, 1.f, 1.f, 1.f, -1.f}, Shape{2, 2, 2});
  auto bias = mg::tensor({{10.f, 20.f}, {-1.f, -2.f}});
  expect_values(mg::grouped_matmul(x, w, sizes_of({2, 1}), bias), {3, 2}, {11, 24, 13, 28, 10, -3});
}

TEST(GroupedMatmul, Float32MatchesPerGroupMatmul) {
  const int64_t n = total(kMixedSizes), g = static_cast<int64_t>(kMixedSizes.size());
  auto x = randn_t({n, 16}, 1, mg::kFloat32), w = randn_t({g, 16, 12}, 2, mg::kFloat32);
  auto y = mg::grouped_matmul(x, w, sizes_of(kMixedSizes));
  EXPECT_EQ(y.shape(), (Shape{n, 12}));
  expect_close(y, per_group_reference(x, w, kMixedSizes), 1e-5, 1e-5);
}

TEST(GroupedMatmul, Float64MatchesPerGroupMatmul) {
  const int64_t n = total(kMixedSizes), g = static_cast<int64_t>(kMixedSizes.size());
  auto x = randn_t({n, 16}, 3), w = randn_t({g, 16, 12}, 4), bias = randn_t({g, 12}, 5);
  expect_close(mg::grouped_matmul(x, w, sizes_of(kMixedSizes)),
               per_group_reference(x, w, kMixedSizes), 1e-12, 0);
  expect_close(mg::grouped_matmul(x, w, sizes_of(kMixedSizes), bias),
               per_group_reference(x, w, kMixedSizes, bias), 1e-12, 0);
}

TEST(GroupedMatmul, ManyGroupsRunInParallelAndMatch) {
  // 64 small groups (some empty): the kernel splits the groups across threads.
  std::vector<int64_t> sizes;
  for (int64_t g = 0; g < 64; ++g) sizes.push_back((g * 7) % 13);
  const int64_t n = total(sizes);
  auto x = randn_t({n, 16}, 29).requires_grad_(), w = randn_t({64, 16, 16}, 30).requires_grad_();
  auto dy = randn_t({n, 16}, 31);
  auto y = mg::grouped_matmul(x, w, sizes_of(sizes));
  expect_close(y, per_group_reference(x.detach(), w.detach(), sizes), 1e-12, 0);
  y.backward(dy);
  expect_close(x.grad(), per_group_reference(dy, w.detach().transpose(1, 2), sizes), 1e-12, 0);
  expect_close(w.grad(), per_group_weight_grad(x.detach(), dy, sizes), 1e-12, 0);
}

// Groups large enough to be cut into blocks for the thread pool (and some too small to), at
// several thread counts: the output and both gradients against per-group products.
TEST(GroupedMatmul, LargeGroupsCutAcrossThreadsMatch) {
  const std::vector<int64_t> sizes{0, 700, 3, 300, 0};
  for (int threads : {1, 2, 3}) {
    mg::testing::ScopedNumThreads scoped(threads);
    auto x = randn_t({total(sizes), 96}, 40).requires_grad_();
    auto w = randn_t({5, 96, 160}, 41).requires_grad_();
    auto y = mg::grouped_matmul(x, w, sizes_of(sizes));
    expect_close(y, per_group_reference(x, w, sizes), 1e-10, 1e-10);
    auto dy = randn_t(y.shape(), 42);
    y.backward(dy);
    expect_close(x.grad(), per_group_reference(dy, w.transpose(1, 2), sizes), 1e-10, 1e-10);
    expect_close(w.grad(), per_group_weight_grad(x, dy, sizes), 1e-10, 1e-10);
    // Wider inputs than outputs: the weight gradient's [in, out] products are cut by rows.
    auto x2 = randn_t({total(sizes), 300}, 43).requires_grad_();
    auto w2 = randn_t({5, 300, 64}, 44).requires_grad_();
    auto y2 = mg::grouped_matmul(x2, w2, sizes_of(sizes));
    auto dy2 = randn_t(y2.shape(), 45);
    y2.backward(dy2);
    expect_close(w2.grad(), per_group_weight_grad(x2, dy2, sizes), 1e-10, 1e-10);
  }
}

TEST(GroupedMatmul, SingleGroupEqualsMatmul) {
  for (int64_t n : {4, 40}) {
    auto x = randn_t({n, 9}, 6), w = randn_t({1, 9, 7}, 7);
    expect_close(mg::grouped_matmul(x, w, sizes_of({n})), mg::matmul(x, w.select(0, 0)), 1e-12, 0);
  }
}

TEST(GroupedMatmul, AllRowsInOneGroupAmongMany) {
  auto x = randn_t({30, 8}, 8), w = randn_t({4, 8, 5}, 9);
  for (int64_t full = 0; full < 4; ++full) {
    std::vector<int64_t> sizes(4, 0);
    sizes[full] = 30;
    expect_close(mg::grouped_matmul(x, w, sizes_of(sizes)), mg::matmul(x, w.select(0, full)), 1e-12,
                 0);
  }
}

TEST(GroupedMatmul, NoRows) {
  auto y = mg::grouped_matmul(mg::ones({0, 3}), mg::ones({2, 3, 4}), sizes_of({0, 0}));
  EXPECT_EQ(y.shape(), (Shape{0, 4}));
}

TEST(GroupedMatmul, EmptyInnerDimGivesZeros) {
  auto y = mg::grouped_matmul(mg::ones({3, 0}), mg::ones({2, 0, 2}), sizes_of({1, 2}));
  expect_values(y, {3, 2}, {0, 0, 0, 0, 0, 0});
}

// ---- layouts ----

TEST(GroupedMatmul, TransposedWeightView) {
  // w stored as [G, out, in] and passed as its transpose: BLAS reads it in place.
  const int64_t n = total(kMixedSizes), g = static_cast<int64_t>(kMixedSizes.size());
  auto x = randn_t({n, 16}, 10), w_stored = randn_t({g, 12, 16}, 11);
  auto w = w_stored.transpose(1, 2);
  EXPECT_FALSE(w.is_contiguous());
  expect_close(mg::grouped_matmul(x, w, sizes_of(kMixedSizes)),
               per_group_reference(x, w.contiguous(), kMixedSizes), 1e-12, 0);
}

TEST(GroupedMatmul, TransposedAndStridedInputViews) {
  const int64_t n = total(kMixedSizes), g = static_cast<int64_t>(kMixedSizes.size());
  // x transposed (column-major), and x with both dims strided (packed by the kernel).
  auto x_t = randn_t({16, n}, 12).t();
  auto x_strided = randn_t({n, 16, 2}, 13).select(2, 1);
  auto w_strided = randn_t({g, 16, 12, 3}, 14).select(3, 2);
  for (const Tensor& x : {x_t, x_strided}) {
    EXPECT_FALSE(x.is_contiguous());
    expect_close(mg::grouped_matmul(x, w_strided, sizes_of(kMixedSizes)),
                 per_group_reference(x.contiguous(), w_strided.contiguous(), kMixedSizes), 1e-12,
                 0);
  }
}

TEST(GroupedMatmul, NonContiguousGroupSizes) {
  auto every_other = mg::tensor(std::vector<int64_t>{2, 9, 0, 9, 1, 9}, Shape{3, 2}).select(1, 0);
  EXPECT_FALSE(every_other.is_contiguous());
  auto x = randn_t({3, 4}, 15), w = randn_t({3, 4, 2}, 16);
  expect_close(mg::grouped_matmul(x, w, every_other), per_group_reference(x, w, {2, 0, 1}), 1e-12,
               0);
}

// ---- gradients ----

TEST(GroupedMatmulGrad, GradcheckXAndWUnevenGroups) {
  const std::vector<int64_t> sizes{2, 0, 3, 1};
  auto group_sizes = sizes_of(sizes);
  EXPECT_GRADCHECK([&](const Inputs& in) { return mg::grouped_matmul(in[0], in[1], group_sizes); },
                   (Inputs{grad_input({6, 3}, 17), grad_input({4, 3, 2}, 18)}));
}

TEST(GroupedMatmulGrad, GradcheckWithBiasEmptyFirstAndLast) {
  const std::vector<int64_t> sizes{0, 2, 3, 0};
  auto group_sizes = sizes_of(sizes);
  EXPECT_GRADCHECK(
      [&](const Inputs& in) { return mg::grouped_matmul(in[0], in[1], group_sizes, in[2]); },
      (Inputs{grad_input({5, 3}, 19), grad_input({4, 3, 2}, 20), grad_input({4, 2}, 21)}));
}

TEST(GroupedMatmulGrad, GradcheckThroughBlasSizedGroups) {
  // Groups of 10 rows with 12 x 10 weights pass the kernel's BLAS cut-over in all three products.
  auto group_sizes = sizes_of({10, 0, 11});
  EXPECT_GRADCHECK(
      [&](const Inputs& in) { return mg::grouped_matmul(in[0], in[1], group_sizes, in[2]); },
      (Inputs{grad_input({21, 12}, 22), grad_input({3, 12, 10}, 23), grad_input({3, 10}, 24)}));
}

TEST(GroupedMatmulGrad, GradientsMatchPerGroupProducts) {
  const int64_t n = total(kMixedSizes), g = static_cast<int64_t>(kMixedSizes.size());
  auto x = randn_t({n, 16}, 25).requires_grad_();
  auto w = randn_t({g, 16, 12}, 26).requires_grad_();
  auto bias = randn_t({g, 12}, 27).requires_grad_();
  auto dy = randn_t({n, 12}, 28);
  mg::grouped_matmul(x, w, sizes_of(kMixedSizes), bias).backward(dy);
  expect_close(x.grad(), per_group_reference(dy, w.detach().transpose(1, 2), kMixedSizes), 1e-12,
               0);
  expect_close(w.grad(), per_group_weight_grad(x.detach(), dy, kMixedSizes), 1e-12, 0);
  // Bias gradient: the sum of each group's output-gradient rows; zero for empty groups.
  std::vector<Tensor> rows;
  int64_t offset = 0;
  for (int64_t size : kMixedSizes) {
    rows.push_back(dy.narrow(0, offset, size).sum({0}));
    offset += size;
  }
  expect_close(bias.grad(), mg::stack(rows, 0), 1e-12, 0);
}

TEST(GroupedMatmulGrad, EmptyGroupWeightGradIsZero) {
  auto x = mg::ones({3, 2}).requires_grad_();
  // NaN weights of the empty group must not leak into any gradient.
  auto w = mg::tensor(std::vector<float>{1.f, 2.f, 3.f, 4.f, NAN, NAN, NAN, NAN}, Shape{2, 2, 2})
               .requires_grad_();
  mg::grouped_matmul(x, w, sizes_of({3, 0})).sum().backward();
  // dW_0 = X^T 1 (every entry 3), dW_1 = 0; dX rows = 1 @ W_0^T = [1 + 2, 3 + 4].
  expect_values(w.grad(), {2, 2, 2}, {3, 3, 3, 3, 0, 0, 0, 0});
  expect_values(x.grad(), {3, 2}, {3, 7, 3, 7, 3, 7});
}

TEST(GroupedMatmulGrad, LaterChangeOfGroupSizesDoesNotAffectBackward) {
  auto sizes = sizes_of({1, 2});
  auto x = mg::ones({3, 1}).requires_grad_();
  auto w = mg::tensor(std::vector<float>{2.f, 5.f}, Shape{2, 1, 1}).requires_grad_();
  auto y = mg::grouped_matmul(x, w, sizes);
  sizes.fill_(0);
  y.sum().backward();
  expect_values(x.grad(), {3, 1}, {2, 5, 5});
  expect_values(w.grad(), {2, 1, 1}, {1, 2});
}

TEST(GroupedMatmulGrad, OnlyWeightRequiresGrad) {
  // Only w requires grad: x is kept for it; x gets no gradient.
  auto x = mg::tensor({{1.f}, {2.f}, {3.f}});
  auto w = mg::tensor(std::vector<float>{2.f, 5.f}, Shape{2, 1, 1}).requires_grad_();
  mg::grouped_matmul(x, w, sizes_of({1, 2})).sum().backward();
  expect_values(w.grad(), {2, 1, 1}, {1, 5});
  EXPECT_FALSE(x.grad().defined());
}

// ---- errors ----

TEST(GroupedMatmulErrors, Shapes) {
  EXPECT_MG_ERROR(mg::grouped_matmul(mg::ones({4, 3}), mg::ones({2, 5, 2}), sizes_of({2, 2})),
                  "grouped_matmul");
  EXPECT_MG_ERROR(mg::grouped_matmul(mg::ones({4, 3}), mg::ones({2, 5, 2}), sizes_of({2, 2})),
                  "[4, 3]");
  EXPECT_MG_ERROR(mg::grouped_matmul(mg::ones({4, 3}), mg::ones({2, 5, 2}), sizes_of({2, 2})),
                  "3 != 5");
  EXPECT_MG_ERROR(mg::grouped_matmul(mg::ones({4}), mg::ones({2, 1, 2}), sizes_of({2, 2})),
                  "expected x [N, in] and w [G, in, out]");
  EXPECT_MG_ERROR(mg::grouped_matmul(mg::ones({4, 3}), mg::ones({3, 2}), sizes_of({2, 2})),
                  "expected x [N, in] and w [G, in, out]");
}

TEST(GroupedMatmulErrors, GroupSizes) {
  auto x = mg::ones({4, 3}), w = mg::ones({2, 3, 2});
  EXPECT_MG_ERROR(mg::grouped_matmul(x, w, sizes_of({2, 1})), "sum to 3 but x has 4 rows");
  EXPECT_MG_ERROR(mg::grouped_matmul(x, w, sizes_of({5, -1})), "group 1 has negative size -1");
  EXPECT_MG_ERROR(mg::grouped_matmul(x, w, sizes_of({1, 1, 2})), "has 3 elements but w");
  EXPECT_MG_ERROR(mg::grouped_matmul(x, w, mg::tensor({2, 2})), "1-D int64 tensor");
  EXPECT_MG_ERROR(mg::grouped_matmul(x, w, mg::tensor({2.f, 2.f})), "1-D int64 tensor");
  EXPECT_MG_ERROR(mg::grouped_matmul(x, w, sizes_of({2, 2}).reshape({1, 2})), "1-D int64 tensor");
}

TEST(GroupedMatmulErrors, Dtypes) {
  auto sizes = sizes_of({2, 2});
  EXPECT_MG_ERROR(mg::grouped_matmul(mg::ones({4, 3}), mg::ones({2, 3, 2}, mg::kFloat64), sizes),
                  "same floating dtype");
  EXPECT_MG_ERROR(
      mg::grouped_matmul(mg::ones({4, 3}, mg::kInt64), mg::ones({2, 3, 2}, mg::kInt64), sizes),
      "same floating dtype");
}

TEST(GroupedMatmulErrors, Bias) {
  auto x = mg::ones({4, 3}), w = mg::ones({2, 3, 2});
  auto sizes = sizes_of({2, 2});
  EXPECT_MG_ERROR(mg::grouped_matmul(x, w, sizes, mg::ones({2, 3})),
                  "expected bias of shape [2, 2]");
  EXPECT_MG_ERROR(mg::grouped_matmul(x, w, sizes, mg::ones({2})), "expected bias of shape [2, 2]");
  EXPECT_MG_ERROR(mg::grouped_matmul(x, w, sizes, mg::ones({2, 2}, mg::kFloat64)), "bias is");
}
