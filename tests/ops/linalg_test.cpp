// Matrix products: matmul, mm, bmm, addmm, baddbmm and the CPU gemm kernel behind them.
#include <limits>

#include "backends/kernels.h"
#include "common/test_util.h"

namespace mg = mixgrad;
using mg::Shape;
using mg::Tensor;
using Inputs = std::vector<Tensor>;
using mg::testing::expect_close;
using mg::testing::expect_values;
using mg::testing::grad_input;

namespace {

// Reference batched product by plain loops over row-major copies of 3-D a [Ba, M, K] and
// b [Bb, K, N], where a batch count of 1 broadcasts.
std::vector<double> naive_bmm(const Tensor& a, const Tensor& b) {
  const int64_t ba = a.size(0), m = a.size(1), k = a.size(2);
  const int64_t bb = b.size(0), n = b.size(2);
  const int64_t batches = std::max(ba, bb);
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  std::vector<double> out(batches * m * n, 0.0);
  for (int64_t p = 0; p < batches; ++p) {
    const int64_t pa = ba == 1 ? 0 : p, pb = bb == 1 ? 0 : p;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < k; ++q) acc += x[(pa * m + i) * k + q] * y[(pb * k + q) * n + j];
        out[(p * m + i) * n + j] = acc;
      }
  }
  return out;
}

std::vector<double> naive_mm(const Tensor& a, const Tensor& b) {
  return naive_bmm(a.unsqueeze(0), b.unsqueeze(0));
}

Tensor randn64(const Shape& shape, uint64_t seed) {
  mg::Generator gen(seed);
  return mg::randn(shape, mg::kFloat64, &gen);
}

// Product sizes on either side of the kernel's cut-over: the first runs its own loop, the
// second goes to BLAS. Layout tests run both.
struct Dims {
  int64_t m, k, n;
};
const std::vector<Dims> kBothPaths{{3, 5, 4}, {12, 10, 9}};

Tensor randint64(const Shape& shape, uint64_t seed) {
  mg::Generator gen(seed);
  return mg::randint(-5, 6, shape, {}, &gen);
}

}  // namespace

// ---- values ----

TEST(Matmul, TwoByTwoHandComputed) {
  auto a = mg::tensor({{1.f, 2.f}, {3.f, 4.f}});
  auto b = mg::tensor({{5.f, 6.f}, {7.f, 8.f}});
  auto c = mg::matmul(a, b);
  EXPECT_EQ(c.dtype(), mg::kFloat32);
  expect_values(c, {2, 2}, {19, 22, 43, 50});
  expect_values(a.matmul(b), {2, 2}, {19, 22, 43, 50});
}

TEST(Matmul, RectangularMatchesNaiveLoop) {
  auto a = randn64({3, 5}, 1), b = randn64({5, 4}, 2);
  expect_values(mg::matmul(a, b), {3, 4}, naive_mm(a, b), 1e-12);
}

TEST(Matmul, Float32MatchesFloat64Reference) {
  for (Dims d : kBothPaths) {
    auto a = randn64({d.m, d.k}, 3), b = randn64({d.k, d.n}, 4);
    auto c = mg::matmul(a.to(mg::kFloat32), b.to(mg::kFloat32));
    EXPECT_EQ(c.dtype(), mg::kFloat32);
    expect_values(c, {d.m, d.n}, naive_mm(a, b), 1e-4);
  }
}

TEST(Matmul, TransposedOperandsReadInPlace) {
  for (Dims d : kBothPaths) {
    auto a = randn64({d.k, d.m}, 5).t(), b = randn64({d.n, d.k}, 6).t();  // stride[-2] == 1
    ASSERT_FALSE(a.is_contiguous());
    const Shape shape{d.m, d.n};
    expect_values(mg::matmul(a, b), shape, naive_mm(a, b), 1e-12);
    expect_values(mg::matmul(a, b.contiguous()), shape, naive_mm(a, b), 1e-12);
    expect_values(mg::matmul(a.contiguous(), b), shape, naive_mm(a, b), 1e-12);
    expect_values(mg::matmul(a.to(mg::kFloat32), b.to(mg::kFloat32).t().contiguous().t()), shape,
                  naive_mm(a, b), 1e-4);
  }
}

TEST(Matmul, StridedOperandsArePacked) {
  for (Dims d : kBothPaths) {
    // Every second element along both dims: no unit stride, so BLAS cannot read these in place.
    auto a_base = randn64({2 * d.m, 2 * d.k}, 7), b_base = randn64({2 * d.k, 2 * d.n}, 8);
    auto every_other = [](const Tensor& x) {
      return x.slice(0, 0, std::nullopt, 2).slice(1, 0, std::nullopt, 2);
    };
    auto a = every_other(a_base), b = every_other(b_base);
    expect_values(mg::matmul(a, b), {d.m, d.n}, naive_mm(a, b), 1e-12);
    auto af = every_other(a_base.to(mg::kFloat32)), bf = every_other(b_base.to(mg::kFloat32));
    expect_values(mg::matmul(af, bf), {d.m, d.n}, naive_mm(a, b), 1e-4);
  }
}

TEST(Matmul, ExpandedOperandsWithZeroStrides) {
  for (Dims d : kBothPaths) {
    auto a = randn64({1, d.k}, 9).expand({d.m, d.k});   // row stride 0
    auto b = randn64({d.k, 1}, 10).expand({d.k, d.n});  // column stride 0
    expect_values(mg::matmul(a, b), {d.m, d.n}, naive_mm(a, b), 1e-12);
  }
}

TEST(Matmul, IntegerDtypesExact) {
  for (mg::DType dt : {mg::kInt32, mg::kInt64}) {
    auto a = mg::tensor({{1, 2, 3}, {4, 5, 6}}, dt);
    auto b = mg::tensor({{7, 8}, {9, 10}, {11, 12}}, dt);
    auto c = mg::matmul(a, b);
    EXPECT_EQ(c.dtype(), dt);
    expect_values(c, {2, 2}, {58, 64, 139, 154});
  }
}

TEST(Matmul, IntegerBatchedTransposedMatchesNaive) {
  auto a = randint64({4, 6, 3}, 11).transpose(1, 2);  // [4, 3, 6]
  auto b = randint64({4, 6, 5}, 12);
  auto c = mg::matmul(a, b);
  EXPECT_EQ(c.dtype(), mg::kInt64);
  expect_values(c, {4, 3, 5}, naive_bmm(a, b));
}

TEST(Matmul, EmptyInnerDimGivesZeros) {
  auto a = mg::empty({2, 0}), b = mg::empty({0, 3});
  expect_values(mg::matmul(a, b), {2, 3}, std::vector<double>(6, 0.0));
  auto ai = mg::empty({2, 0}, mg::kInt64), bi = mg::empty({0, 3}, mg::kInt64);
  expect_values(mg::matmul(ai, bi), {2, 3}, std::vector<double>(6, 0.0));
  expect_values(mg::matmul(mg::empty({0}, mg::kFloat64), mg::empty({0}, mg::kFloat64)), {}, {0});
}

TEST(Matmul, EmptyOuterDims) {
  expect_values(mg::matmul(mg::ones({0, 3}), mg::ones({3, 2})), {0, 2}, {});
  expect_values(mg::matmul(mg::ones({2, 3}), mg::ones({3, 0})), {2, 0}, {});
  expect_values(mg::matmul(mg::ones({0, 2, 3}), mg::ones({3, 4})), {0, 2, 4}, {});
}

TEST(Matmul, DotProductOfVectors) {
  auto c = mg::matmul(mg::tensor({1.0, 2.0, 3.0}), mg::tensor({4.0, 5.0, 6.0}));
  expect_values(c, {}, {32});
}

TEST(Matmul, VectorTimesMatrix) {
  auto v = mg::tensor({1.0, 2.0});
  auto m = mg::tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  expect_values(mg::matmul(v, m), {3}, {9, 12, 15});
}

TEST(Matmul, MatrixTimesVector) {
  auto m = mg::tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  auto v = mg::tensor({1.0, 0.0, -1.0});
  expect_values(mg::matmul(m, v), {2}, {-2, -2});
}

TEST(Matmul, BatchedTimesVectorAndVectorTimesBatched) {
  auto a = randn64({3, 2, 4}, 13), v = randn64({4}, 14);
  expect_values(mg::matmul(a, v), {3, 2}, naive_bmm(a, v.view({1, 4, 1})), 1e-12);
  auto w = randn64({2}, 15);
  expect_values(mg::matmul(w, a), {3, 4}, naive_bmm(w.view({1, 1, 2}), a), 1e-12);
}

TEST(Matmul, BatchTimesSharedMatrixFoldsRows) {
  for (Dims d : kBothPaths) {
    auto a = randn64({2, 3, d.m, d.k}, 16), b = randn64({d.k, d.n}, 17);
    expect_values(mg::matmul(a, b), {2, 3, d.m, d.n},
                  naive_bmm(a.reshape({6, d.m, d.k}), b.unsqueeze(0)), 1e-12);
    // Rows that cannot be viewed as one matrix go through the batched path instead.
    auto p = randn64({d.m, 2, d.k}, 18).transpose(0, 1);
    expect_values(mg::matmul(p, b), {2, d.m, d.n}, naive_bmm(p, b.unsqueeze(0)), 1e-12);
  }
}

TEST(Matmul, SharedMatrixTimesBatch) {
  auto a = randn64({3, 4}, 19), b = randn64({5, 4, 2}, 20);
  expect_values(mg::matmul(a, b), {5, 3, 2}, naive_bmm(a.unsqueeze(0), b), 1e-12);
}

TEST(Matmul, BroadcastBatchDims) {
  // Batch [2, 1] against [3]: no single batch stride describes the result, so the leading
  // batch dim is walked.
  for (Dims d : kBothPaths) {
    auto a = randn64({2, 1, d.m, d.k}, 21), b = randn64({3, d.k, d.n}, 22);
    std::vector<double> expected;
    for (int64_t i = 0; i < 2; ++i) {
      auto part = naive_bmm(a[i], b);
      expected.insert(expected.end(), part.begin(), part.end());
    }
    expect_values(mg::matmul(a, b), {2, 3, d.m, d.n}, expected, 1e-12);
  }
  auto b = randn64({3, 4, 5}, 22);
  // Size-1 batch dim on the right operand.
  auto d = mg::matmul(b, randn64({1, 5, 2}, 23));
  expect_values(d, {3, 4, 2}, naive_bmm(b, randn64({1, 5, 2}, 23)), 1e-12);
}

TEST(Matmul, ManySmallMatricesMatchNaiveLoop) {
  // 64 batches of 8x8: too small for BLAS, the kernel's own loop runs them in parallel.
  auto a = randn64({64, 8, 8}, 24), b = randn64({64, 8, 8}, 25);
  expect_values(mg::matmul(a, b), {64, 8, 8}, naive_bmm(a, b), 1e-12);
  auto af = a.to(mg::kFloat32), bf = b.to(mg::kFloat32);
  expect_values(mg::matmul(af, bf), {64, 8, 8}, naive_bmm(a, b), 1e-4);
  // Same with a broadcast right operand and a transposed left one.
  auto at = a.transpose(1, 2);
  expect_values(mg::matmul(at, b[0]), {64, 8, 8}, naive_bmm(at, b[0].unsqueeze(0)), 1e-12);
}

TEST(Matmul, SmallBatchedBlasProductsMatchNaiveLoop) {
  // 48 batches of 16x16: one single-threaded BLAS call per batch, batches split across threads.
  auto a = randn64({48, 16, 16}, 45), b = randn64({48, 16, 16}, 46);
  expect_values(mg::matmul(a, b), {48, 16, 16}, naive_bmm(a, b), 1e-12);
  auto af = a.to(mg::kFloat32), bf = b.to(mg::kFloat32);
  expect_values(mg::matmul(af.transpose(1, 2), bf), {48, 16, 16}, naive_bmm(a.transpose(1, 2), b),
                1e-4);
}

TEST(Matmul, LargeBatchedMatchesNaiveLoop) {
  // 70^3 multiply-adds per product: each GEMM is threaded by BLAS instead.
  auto a = randn64({3, 70, 70}, 26), b = randn64({3, 70, 70}, 27);
  expect_values(mg::bmm(a, b), {3, 70, 70}, naive_bmm(a, b), 1e-10);
}

// Products large enough to be cut into blocks of rows (m >= n) or columns (n > m) that run on
// the thread pool, with operands read in place transposed, at several thread counts.
TEST(Matmul, LargeProductsCutAcrossThreadsMatchNaiveLoop) {
  for (int threads : {1, 2, 3}) {
    mg::testing::ScopedNumThreads scoped(threads);
    auto a = randn64({300, 257}, 28), b = randn64({257, 200}, 29);
    expect_values(mg::matmul(a, b), {300, 200}, naive_mm(a, b), 1e-10);
    auto at = randn64({700, 40}, 30), bt = randn64({150, 700}, 31);
    expect_values(mg::matmul(at.t(), bt.t()), {40, 150}, naive_mm(at.t(), bt.t()), 1e-10);
    auto a3 = randn64({2, 130, 90}, 32), b3 = randn64({2, 90, 140}, 33);
    expect_values(mg::bmm(a3, b3), {2, 130, 140}, naive_bmm(a3, b3), 1e-10);
    auto af = a.to(mg::kFloat32), bf = b.to(mg::kFloat32);
    expect_values(mg::matmul(af, bf), {300, 200}, naive_mm(a, b), 2e-3);
    // Two output rows and many columns: cut into column blocks, each a per-row gemv.
    auto a2 = randn64({2, 300}, 34), b2 = randn64({300, 1500}, 35);
    expect_values(mg::matmul(a2, b2), {2, 1500}, naive_mm(a2, b2), 1e-10);
    // Accumulation into the blocks: addmm's beta and alpha.
    auto c = randn64({300, 200}, 36);
    const std::vector<double> ab = naive_mm(a, b), c0 = c.to_vector<double>();
    std::vector<double> expected(ab.size());
    for (size_t i = 0; i < ab.size(); ++i) expected[i] = 0.5 * c0[i] + 2.0 * ab[i];
    expect_values(mg::addmm(c, a, b, 0.5, 2.0), {300, 200}, expected, 1e-10);
  }
}

TEST(Matmul, ResultIsContiguousAndFresh) {
  auto a = randn64({3, 4}, 28), b = randn64({4, 2}, 29);
  for (const Tensor& c : {mg::matmul(a, b), mg::matmul(a, b.select(1, 0)), mg::matmul(a[0], b)}) {
    EXPECT_TRUE(c.is_contiguous());
    EXPECT_FALSE(c.is_view());
    EXPECT_FALSE(c.storage() == a.storage() || c.storage() == b.storage());
  }
}

TEST(MatmulGrad, VectorResultCanBeModifiedInPlace) {
  auto a = mg::tensor({{1.0, 2.0}, {3.0, 4.0}}).requires_grad_();
  auto v = mg::tensor({1.0, 1.0});
  auto y = mg::matmul(a, v);
  y.mul_(mg::tensor({2.0, 3.0}));
  y.sum().backward();
  expect_values(a.grad(), {2, 2}, {2, 2, 3, 3});
}

// ---- errors ----

TEST(MatmulErrors, InnerDimMismatchNamesBothShapes) {
  EXPECT_MG_ERROR(mg::matmul(mg::ones({2, 3}), mg::ones({4, 5})), "shapes [2, 3] and [4, 5]");
  EXPECT_MG_ERROR(mg::matmul(mg::ones({3}), mg::ones({4})), "shapes [3] and [4]");
  EXPECT_MG_ERROR(mg::matmul(mg::ones({2, 3}), mg::ones({2})), "shapes [2, 3] and [2]");
}

TEST(MatmulErrors, BatchDimsDoNotBroadcast) {
  EXPECT_MG_ERROR(mg::matmul(mg::ones({2, 3, 4}), mg::ones({3, 4, 5})),
                  "batch dims of shapes [2, 3, 4] and [3, 4, 5]");
}

TEST(MatmulErrors, DtypeMismatch) {
  EXPECT_MG_ERROR(mg::matmul(mg::ones({2, 2}), mg::ones({2, 2}, mg::kFloat64)), "same dtype");
  EXPECT_MG_ERROR(mg::matmul(mg::ones({2, 2}, mg::kInt64), mg::ones({2, 2})), "int64[2, 2]");
}

TEST(MatmulErrors, ZeroDimAndBoolOperands) {
  EXPECT_MG_ERROR(mg::matmul(mg::scalar_tensor(2.0, mg::kFloat64), mg::ones({2}, mg::kFloat64)),
                  "at least 1 dim");
  EXPECT_MG_ERROR(mg::matmul(mg::ones({2, 2}, mg::kBool), mg::ones({2, 2}, mg::kBool)), "bool");
  EXPECT_MG_ERROR(mg::matmul(Tensor(), mg::ones({2})), "undefined");
}

TEST(MatmulErrors, MmAndBmmNeedExactRanks) {
  EXPECT_MG_ERROR(mg::mm(mg::ones({2}), mg::ones({2, 3})), "expected 2-D tensors");
  EXPECT_MG_ERROR(mg::mm(mg::ones({2, 3}), mg::ones({4, 3})), "cannot be multiplied");
  EXPECT_MG_ERROR(mg::bmm(mg::ones({2, 3}), mg::ones({2, 3, 4})), "expected 3-D tensors");
  EXPECT_MG_ERROR(mg::bmm(mg::ones({2, 3, 4}), mg::ones({1, 4, 5})), "batch sizes differ");
}

TEST(MatmulErrors, AddmmSelfAndScalars) {
  EXPECT_MG_ERROR(mg::addmm(mg::ones({3}), mg::ones({2, 4}), mg::ones({4, 2})),
                  "self of shape [3] cannot be broadcast to the result shape [2, 2]");
  EXPECT_MG_ERROR(mg::addmm(mg::ones({2, 2}, mg::kFloat64), mg::ones({2, 2}), mg::ones({2, 2})),
                  "self is float64");
  auto i = mg::ones({2, 2}, mg::kInt64);
  EXPECT_MG_ERROR(mg::addmm(i, i, i, 1, 0.5), "integral alpha and beta");
  EXPECT_MG_ERROR(mg::baddbmm(mg::ones({2, 2, 2}), mg::ones({2, 2}), mg::ones({2, 2})),
                  "expected 3-D tensors");
}

// ---- addmm / baddbmm ----

TEST(Addmm, BiasBroadcastAndScaling) {
  auto self = mg::tensor({10.0, 20.0});  // broadcast over rows
  auto m1 = mg::tensor({{1.0, 2.0}, {3.0, 4.0}});
  auto m2 = mg::tensor({{5.0, 6.0}, {7.0, 8.0}});
  expect_values(mg::addmm(self, m1, m2), {2, 2}, {29, 42, 53, 70});
  // 0.5 * self + 2 * (m1 @ m2)
  expect_values(mg::addmm(self, m1, m2, 0.5, 2), {2, 2}, {43, 54, 91, 110});
}

TEST(Addmm, ZeroBetaIgnoresNanSelf) {
  auto self = mg::full({2, 2}, std::numeric_limits<double>::quiet_NaN(), mg::kFloat64);
  auto m = mg::tensor({{1.0, 2.0}, {3.0, 4.0}});
  expect_values(mg::addmm(self, m, m, 0, 1), {2, 2}, {7, 10, 15, 22});
}

TEST(Addmm, IntegerExact) {
  auto self = mg::tensor({{1, 1}, {1, 1}}, mg::kInt32);
  auto m = mg::tensor({{1, 2}, {3, 4}}, mg::kInt32);
  expect_values(mg::addmm(self, m, m, 3, 2), {2, 2}, {17, 23, 33, 47});
}

TEST(Baddbmm, MatchesNaiveLoop) {
  auto self = randn64({3, 1, 4}, 30);  // broadcast over rows
  auto b1 = randn64({3, 2, 5}, 31), b2 = randn64({3, 5, 4}, 32);
  auto out = mg::baddbmm(self, b1, b2, 0.5, -2);
  auto prod = naive_bmm(b1, b2);
  auto s = self.to_vector<double>();
  for (int64_t p = 0; p < 3; ++p)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 4; ++j) {
        double& v = prod[(p * 2 + i) * 4 + j];
        v = 0.5 * s[p * 4 + j] - 2 * v;
      }
  expect_values(out, {3, 2, 4}, prod, 1e-12);
}

// ---- the gemm kernel's own contract ----

TEST(GemmKernel, AccumulatesWithBetaAndScalesWithAlpha) {
  for (Dims d : kBothPaths) {
    auto a = randn64({2, d.m, d.k}, 33), b = randn64({2, d.k, d.n}, 34);
    auto out = randn64({2, d.m, d.n}, 35);
    auto old = out.to_vector<double>();
    mg::kernels::gemm(mg::Device::cpu(), out, a, b, 2.0, 0.5);
    auto prod = naive_bmm(a, b);
    for (size_t i = 0; i < prod.size(); ++i) prod[i] = 2.0 * prod[i] + 0.5 * old[i];
    expect_values(out, {2, d.m, d.n}, prod, 1e-12);
  }
}

TEST(GemmKernel, ZeroBetaIgnoresNanInOut) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (Dims d : kBothPaths) {
    auto a = randn64({1, d.m, d.k}, 36), b = randn64({1, d.k, d.n}, 37);
    for (mg::DType dt : {mg::kFloat32, mg::kFloat64}) {
      auto out = mg::full({1, d.m, d.n}, nan, dt);
      mg::kernels::gemm(mg::Device::cpu(), out, a.to(dt), b.to(dt), 1.0, 0.0);
      expect_values(out, {1, d.m, d.n}, naive_bmm(a, b), 1e-4);
    }
  }
  auto out = mg::full({1, 3, 2}, nan, mg::kFloat64);
  mg::kernels::gemm(mg::Device::cpu(), out, mg::empty({1, 3, 0}, mg::kFloat64),
                    mg::empty({1, 0, 2}, mg::kFloat64), 1.0, 0.0);
  expect_values(out, {1, 3, 2}, std::vector<double>(6, 0.0));
}

TEST(GemmKernel, TransposedOutput) {
  for (Dims d : kBothPaths) {
    auto a = randn64({2, d.m, d.k}, 38), b = randn64({2, d.k, d.n}, 39);
    auto out = mg::zeros({2, d.n, d.m}, mg::kFloat64).transpose(1, 2);  // stride[-2] == 1
    mg::kernels::gemm(mg::Device::cpu(), out, a, b, 1.0, 0.0);
    expect_values(out, {2, d.m, d.n}, naive_bmm(a, b), 1e-12);
  }
}

TEST(GemmKernel, StridedOutputKeepsGaps) {
  for (Dims d : kBothPaths) {
    auto a = randn64({1, d.m, d.k}, 40), b = randn64({1, d.k, d.n}, 41);
    auto buffer = mg::full({1, d.m, 2 * d.n}, 7.0, mg::kFloat64);
    auto out = buffer.slice(2, 0, std::nullopt, 2);  // every other column: no unit stride
    mg::kernels::gemm(mg::Device::cpu(), out, a, b, 1.0, 1.0);
    auto prod = naive_bmm(a, b);
    std::vector<double> expected;
    for (double v : prod) expected.insert(expected.end(), {v + 7, 7});
    expect_values(buffer, {1, d.m, 2 * d.n}, expected, 1e-12);
  }
}

TEST(GemmKernel, BroadcastBatchStrideZero) {
  for (Dims d : kBothPaths) {
    auto a = randn64({1, d.m, d.k}, 42).expand({5, d.m, d.k});
    auto b = randn64({5, d.k, d.n}, 43);
    auto out = mg::empty({5, d.m, d.n}, mg::kFloat64);
    mg::kernels::gemm(mg::Device::cpu(), out, a, b, 1.0, 0.0);
    expect_values(out, {5, d.m, d.n}, naive_bmm(a, b), 1e-12);
    // A broadcast operand that also needs packing is packed once.
    auto c = randn64({1, d.m, 2 * d.k}, 44).slice(2, 0, std::nullopt, 2).expand({5, d.m, d.k});
    mg::kernels::gemm(mg::Device::cpu(), out, c, b, 1.0, 0.0);
    expect_values(out, {5, d.m, d.n}, naive_bmm(c, b), 1e-12);
  }
}

// ---- gradients ----

TEST(MatmulGrad, MatrixMatrix) {
  EXPECT_GRADCHECK([](const Inputs& in) { return mg::matmul(in[0], in[1]); },
                   (Inputs{grad_input({3, 4}, 1), grad_input({4, 2}, 2)}));
}

TEST(MatmulGrad, TransposedOperands) {
  EXPECT_GRADCHECK([](const Inputs& in) { return mg::matmul(in[0].t(), in[1].t()); },
                   (Inputs{grad_input({4, 3}, 3), grad_input({2, 4}, 4)}));
}

TEST(MatmulGrad, VectorCases) {
  auto fn = [](const Inputs& in) { return mg::matmul(in[0], in[1]); };
  EXPECT_GRADCHECK(fn, (Inputs{grad_input({4}, 5), grad_input({4}, 6)}));
  EXPECT_GRADCHECK(fn, (Inputs{grad_input({3}, 7), grad_input({3, 2}, 8)}));
  EXPECT_GRADCHECK(fn, (Inputs{grad_input({2, 3}, 9), grad_input({3}, 10)}));
  EXPECT_GRADCHECK(fn, (Inputs{grad_input({2, 2, 3}, 11), grad_input({3}, 12)}));
  EXPECT_GRADCHECK(fn, (Inputs{grad_input({2}, 13), grad_input({3, 2, 4}, 14)}));
}

TEST(MatmulGrad, BatchTimesSharedMatrix) {
  // The shared matrix's gradient is summed over the batch in one folded product.
  EXPECT_GRADCHECK([](const Inputs& in) { return mg::matmul(in[0], in[1]); },
                   (Inputs{grad_input({2, 3, 2, 4}, 15), grad_input({4, 3}, 16)}));
  EXPECT_GRADCHECK([](const Inputs& in) { return mg::matmul(in[0].transpose(0, 1), in[1]); },
                   (Inputs{grad_input({2, 3, 4}, 17), grad_input({4, 3}, 18)}));
}

TEST(MatmulGrad, SharedMatrixTimesBatch) {
  EXPECT_GRADCHECK([](const Inputs& in) { return mg::matmul(in[0], in[1]); },
                   (Inputs{grad_input({3, 4}, 19), grad_input({2, 4, 2}, 20)}));
}

TEST(MatmulGrad, BroadcastBatchDims) {
  EXPECT_GRADCHECK([](const Inputs& in) { return mg::matmul(in[0], in[1]); },
                   (Inputs{grad_input({2, 1, 2, 3}, 21), grad_input({3, 3, 2}, 22)}));
}

TEST(MatmulGrad, SharedMatrixGradientIsSumOverBatch) {
  auto a = mg::ones({3, 2, 2}, mg::kFloat64);
  auto b = mg::tensor({{1.0, 2.0}, {3.0, 4.0}}).requires_grad_();
  mg::matmul(a, b).sum().backward();
  // d/db sum(a_i @ b) = sum_i a_i^T @ ones = 3 * [[2, 2], [2, 2]]
  expect_values(b.grad(), {2, 2}, {6, 6, 6, 6});
}

TEST(MatmulGrad, OnlyTheNeededOperandIsSaved) {
  // b needs no gradient, so a is not kept and may change after the product.
  auto leaf = mg::tensor({{1.0, 2.0}, {3.0, 4.0}}).requires_grad_();
  auto a = leaf * 1;
  auto b = mg::tensor({{1.0, 0.0}, {0.0, 2.0}});
  auto c = mg::matmul(a, b);
  a.add_(mg::ones({2, 2}, mg::kFloat64));
  c.sum().backward();
  expect_values(leaf.grad(), {2, 2}, {1, 2, 1, 2});
}

TEST(MatmulGrad, MmAndBmm) {
  EXPECT_GRADCHECK([](const Inputs& in) { return mg::mm(in[0], in[1]); },
                   (Inputs{grad_input({2, 3}, 23), grad_input({3, 4}, 24)}));
  EXPECT_GRADCHECK([](const Inputs& in) { return mg::bmm(in[0], in[1]); },
                   (Inputs{grad_input({2, 3, 2}, 25), grad_input({2, 2, 3}, 26)}));
}

TEST(MatmulGrad, Addmm) {
  EXPECT_GRADCHECK([](const Inputs& in) { return mg::addmm(in[0], in[1], in[2], 0.5, -1.5); },
                   (Inputs{grad_input({3}, 27), grad_input({2, 4}, 28), grad_input({4, 3}, 29)}));
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return mg::addmm(in[0], in[1], in[2]); },
      (Inputs{grad_input({2, 3}, 30), grad_input({2, 4}, 31), grad_input({4, 3}, 32)}));
}

TEST(MatmulGrad, Baddbmm) {
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return mg::baddbmm(in[0], in[1], in[2], 2, 0.5); },
      (Inputs{grad_input({2, 1, 3}, 33), grad_input({2, 2, 4}, 34), grad_input({2, 4, 3}, 35)}));
}
