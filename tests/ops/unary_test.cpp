// Element-wise math functions: values, dtypes, layouts, errors and gradients.
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "common/test_util.h"

namespace mixgrad {
namespace {

using testing::expect_values;
using testing::grad_input;

using testing::NamedOp;
using testing::UnaryFn;

// Applies `op` to float64 `xs` and compares with `ref` (from <cmath>) at each point.
void expect_matches_reference(const UnaryFn& op, double (*ref)(double),
                              const std::vector<double>& xs, double tol = 1e-12) {
  std::vector<double> expected;
  for (double x : xs) expected.push_back(ref(x));
  expect_values(op(tensor(xs)), {static_cast<int64_t>(xs.size())}, expected, tol);
}

// gradcheck of a one-input op at a float64 leaf holding `values`.
void expect_unary_gradcheck(const UnaryFn& op, const std::vector<double>& values) {
  Tensor x = tensor(values).requires_grad_();
  auto fn = [&op](const std::vector<Tensor>& in) { return op(in[0]); };
  std::vector<Tensor> inputs{x};
  EXPECT_GRADCHECK(fn, inputs);
}

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------- values

TEST(UnaryOps, NegIsExactAndKeepsIntegerDtype) {
  expect_values(mg::neg(tensor({1.5f, -2.0f, 0.0f})), {3}, {-1.5, 2.0, 0.0});
  Tensor i = mg::neg(tensor<int32_t>({3, -4, 0}));
  EXPECT_EQ(i.dtype(), kInt32);
  expect_values(i, {3}, {-3, 4, 0});
  expect_values(-tensor<int64_t>({7}), {1}, {-7});
}

TEST(UnaryOps, NegOfBoolIsRejected) {
  EXPECT_MG_ERROR(mg::neg(tensor({true, false})),
                  "neg: negation, the `-` operator, on a bool tensor is not supported; if you are "
                  "trying to invert a mask, use logical_not() instead");
  EXPECT_MG_ERROR(-tensor({true}), "neg");
}

TEST(UnaryOps, AbsAndSignAreExactForFloatsAndInts) {
  expect_values(mg::abs(tensor({-2.5, 0.0, 3.0})), {3}, {2.5, 0.0, 3.0});
  expect_values(mg::sign(tensor({-2.5, 0.0, 3.0})), {3}, {-1.0, 0.0, 1.0});
  Tensor ai = mg::abs(tensor<int64_t>({-5, 0, 6}));
  EXPECT_EQ(ai.dtype(), kInt64);
  expect_values(ai, {3}, {5, 0, 6});
  Tensor si = mg::sign(tensor<int32_t>({-5, 0, 6}));
  EXPECT_EQ(si.dtype(), kInt32);
  expect_values(si, {3}, {-1, 0, 1});
}

TEST(UnaryOps, SquareAndReciprocalAreExact) {
  Tensor sq = mg::square(tensor<int32_t>({-3, 2, 0}));
  EXPECT_EQ(sq.dtype(), kInt32);
  expect_values(sq, {3}, {9, 4, 0});
  expect_values(mg::square(tensor({1.5f, -0.5f})), {2}, {2.25, 0.25});
  expect_values(mg::reciprocal(tensor({2.0, 4.0, -0.5})), {3}, {0.5, 0.25, -2.0});
  Tensor ri = mg::reciprocal(tensor<int32_t>({2, 8}));
  EXPECT_EQ(ri.dtype(), kFloat32);
  expect_values(ri, {2}, {0.5, 0.125});
}

TEST(UnaryOps, ExpLogFamilyMatchesCmath) {
  const std::vector<double> any{-2.0, -0.3, 0.0, 0.7, 3.0};
  const std::vector<double> positive{1e-3, 0.25, 1.0, 2.0, 10.0};
  expect_matches_reference([](const Tensor& x) { return mg::exp(x); }, std::exp, any);
  expect_matches_reference([](const Tensor& x) { return mg::expm1(x); }, std::expm1, any);
  expect_matches_reference([](const Tensor& x) { return mg::log(x); }, std::log, positive);
  expect_matches_reference([](const Tensor& x) { return mg::log1p(x); }, std::log1p, positive);
  expect_matches_reference([](const Tensor& x) { return mg::sqrt(x); }, std::sqrt, positive);
  expect_matches_reference([](const Tensor& x) { return mg::rsqrt(x); },
                           [](double v) { return 1.0 / std::sqrt(v); }, positive);
}

TEST(UnaryOps, Expm1AndLog1pStayAccurateNearZero) {
  // exp(x) - 1 in float64 would lose every digit here.
  expect_values(mg::expm1(tensor({1e-12})), {1}, {std::expm1(1e-12)}, 1e-24);
  expect_values(mg::log1p(tensor({1e-12})), {1}, {std::log1p(1e-12)}, 1e-24);
}

TEST(UnaryOps, LogAndSqrtEdgeValues) {
  expect_values(mg::log(tensor({0.0, -1.0})), {2}, {-kInf, kNaN});
  expect_values(mg::sqrt(tensor({0.0, 4.0, -1.0})), {3}, {0.0, 2.0, kNaN});
  expect_values(mg::exp(tensor({-kInf, 0.0})), {2}, {0.0, 1.0});
}

TEST(UnaryOps, TrigAndErfMatchCmath) {
  const std::vector<double> xs{-2.5, -0.4, 0.0, 1.0, 3.1};
  expect_matches_reference([](const Tensor& x) { return mg::sin(x); }, std::sin, xs);
  expect_matches_reference([](const Tensor& x) { return mg::cos(x); }, std::cos, xs);
  expect_matches_reference([](const Tensor& x) { return mg::erf(x); }, std::erf, xs);
}

TEST(UnaryOps, Float32ResultsAreCloseToDoubleReference) {
  Tensor y = mg::exp(tensor({-1.0f, 0.5f, 2.0f}));
  EXPECT_EQ(y.dtype(), kFloat32);
  expect_values(y, {3}, {std::exp(-1.0), std::exp(0.5), std::exp(2.0)}, 1e-5);
}

TEST(UnaryOps, MathOfIntegerTensorGivesDefaultFloat) {
  Tensor e = mg::exp(tensor<int32_t>({0, 1}));
  EXPECT_EQ(e.dtype(), kFloat32);
  expect_values(e, {2}, {1.0, std::exp(1.0)}, 1e-6);
  Tensor s = mg::sqrt(tensor<int64_t>({4, 9}));
  EXPECT_EQ(s.dtype(), kFloat32);
  expect_values(s, {2}, {2.0, 3.0});
  DefaultDtypeGuard float64(kFloat64);
  Tensor l = mg::log(tensor<int64_t>({1, 4}));
  EXPECT_EQ(l.dtype(), kFloat64);
  expect_values(l, {2}, {0.0, std::log(4.0)}, 1e-15);
}

TEST(UnaryOps, FloorAndCeilAreExact) {
  const std::vector<double> xs{-1.5, -1.0, -0.2, 0.0, 0.2, 2.7};
  expect_values(mg::floor(tensor(xs)), {6}, {-2.0, -1.0, -1.0, 0.0, 0.0, 2.0});
  expect_values(mg::ceil(tensor(xs)), {6}, {-1.0, -1.0, -0.0, 0.0, 1.0, 3.0});
  Tensor fi = mg::floor(tensor<int32_t>({-3, 4}));
  EXPECT_EQ(fi.dtype(), kInt32);
  expect_values(fi, {2}, {-3, 4});
}

TEST(UnaryOps, RoundIsHalfToEven) {
  expect_values(mg::round(tensor({0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6, -2.6})), {9},
                {0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 2.0, 3.0, -3.0});
  expect_values(mg::round(tensor({0.5f, 3.5f})), {2}, {0.0, 4.0});
  Tensor ri = mg::round(tensor<int64_t>({-7, 8}));
  EXPECT_EQ(ri.dtype(), kInt64);
  expect_values(ri, {2}, {-7, 8});
}

TEST(UnaryOps, LogicalNotReturnsBoolForAnyDtype) {
  Tensor b = mg::logical_not(tensor({true, false}));
  EXPECT_EQ(b.dtype(), kBool);
  expect_values(b, {2}, {0, 1});
  Tensor f = mg::logical_not(tensor({0.0f, -2.5f, 1.0f}));
  EXPECT_EQ(f.dtype(), kBool);
  expect_values(f, {3}, {1, 0, 0});
  expect_values(mg::logical_not(tensor<int32_t>({0, 3})), {2}, {1, 0});
}

// ---------------------------------------------------------------- clamp

TEST(UnaryOps, ClampWithBothBounds) {
  expect_values(mg::clamp(tensor({-3.0, -1.0, 0.25, 1.0, 5.0}), -1.0, 1.0), {5},
                {-1.0, -1.0, 0.25, 1.0, 1.0});
}

TEST(UnaryOps, ClampWithOneBound) {
  Tensor x = tensor({-3.0, 0.5, 7.0});
  expect_values(mg::clamp(x, 0.0, std::nullopt), {3}, {0.0, 0.5, 7.0});
  expect_values(mg::clamp(x, std::nullopt, 1.0), {3}, {-3.0, 0.5, 1.0});
  expect_values(x.clamp(-1.0, std::nullopt), {3}, {-1.0, 0.5, 7.0});
}

TEST(UnaryOps, ClampPassesNaNThrough) {
  expect_values(mg::clamp(tensor({kNaN, 2.0}), -1.0, 1.0), {2}, {kNaN, 1.0});
  expect_values(mg::clamp(tensor<float>({NAN, -2.0f}), 0.0, std::nullopt), {2}, {kNaN, 0.0});
}

TEST(UnaryOps, ClampOfIntegerTensorsKeepsDtype) {
  Tensor x32 = tensor<int32_t>({-5, 0, 5, 2000000000});
  Tensor lo = mg::clamp(x32, 0.0, std::nullopt);
  EXPECT_EQ(lo.dtype(), kInt32);
  expect_values(lo, {4}, {0, 0, 5, 2000000000});
  expect_values(mg::clamp(x32, std::nullopt, 3.0), {4}, {-5, 0, 3, 3});
  expect_values(mg::clamp(x32, -1.0, 1.0), {4}, {-1, 0, 1, 1});
  Tensor x64 = tensor<int64_t>({-5, 0, 5});
  expect_values(mg::clamp(x64, -2.0, std::nullopt), {3}, {-2, 0, 5});
  expect_values(mg::clamp(x64, std::nullopt, 1.0), {3}, {-5, 0, 1});
}

TEST(UnaryOps, ClampWithoutBoundsIsRejected) {
  Tensor x = tensor({1.0, 2.0});
  EXPECT_MG_ERROR(mg::clamp(x, std::nullopt, std::nullopt), "at least one of min and max");
  EXPECT_MG_ERROR(mg::clamp_(x, std::nullopt, std::nullopt), "clamp_");
}

// ---------------------------------------------------------------- layouts

TEST(UnaryOps, NonContiguousInputsAreReadInLogicalOrder) {
  Tensor m = tensor({{1.0, 4.0, 9.0}, {16.0, 25.0, 36.0}});
  Tensor t = m.t();  // [3, 2], column-major over m's storage
  ASSERT_FALSE(t.is_contiguous());
  expect_values(mg::sqrt(t), {3, 2}, {1, 4, 2, 5, 3, 6});
  Tensor row = tensor({-1.0, 2.0, -3.0});
  Tensor expanded = row.expand({2, 3});  // stride 0 along dim 0
  expect_values(mg::abs(expanded), {2, 3}, {1, 2, 3, 1, 2, 3});
  Tensor every_other = tensor({0.5, 9.0, -1.5, 9.0, 2.5, 9.0}).slice(0, 0, std::nullopt, 2);
  expect_values(mg::round(every_other), {3}, {0.0, -2.0, 2.0});
}

TEST(UnaryOps, ZeroDimAndEmptyTensors) {
  Tensor s = mg::sqrt(scalar_tensor(16.0, kFloat64));
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<double>(), 4.0);
  Tensor e = mg::exp(zeros({0, 3}));
  EXPECT_EQ(e.shape(), (Shape{0, 3}));
  EXPECT_EQ(e.numel(), 0);
  EXPECT_EQ(mg::neg(zeros({0, 3}, kInt64)).shape(), (Shape{0, 3}));
}

TEST(UnaryOps, LargeInputsTakeTheParallelPath) {
  const int64_t n = 100003;  // odd size: leftover elements after vectorised chunks
  Tensor x = arange(n, kFloat64);
  Tensor y = mg::square(x);
  std::vector<double> got = y.to_vector<double>();
  for (int64_t i = 0; i < n; i += 997) EXPECT_EQ(got[i], static_cast<double>(i) * i);
  EXPECT_EQ(got[n - 1], static_cast<double>(n - 1) * (n - 1));
}

// ---------------------------------------------------------------- gradients
// (Every op's gradcheck on random inputs is the op table's: tests/ops/op_table_test.cpp.)

TEST(UnaryOps, GradcheckAbsAwayFromZero) {
  expect_unary_gradcheck([](const Tensor& x) { return mg::abs(x); }, {-2.0, -0.3, 0.4, 1.7});
}

TEST(UnaryOps, AbsGradientIsSign) {
  Tensor x = tensor({-2.0, 0.5, 3.0}).requires_grad_();
  mg::abs(x).sum().backward();
  expect_values(x.grad(), {3}, {-1.0, 1.0, 1.0});
}

TEST(UnaryOps, GradcheckClampAwayFromBounds) {
  const std::vector<double> xs{-2.0, -0.6, 0.1, 0.8, 1.9};
  expect_unary_gradcheck([](const Tensor& x) { return mg::clamp(x, -1.0, 1.0); }, xs);
  expect_unary_gradcheck([](const Tensor& x) { return mg::clamp(x, 0.0, std::nullopt); }, xs);
  expect_unary_gradcheck([](const Tensor& x) { return mg::clamp(x, std::nullopt, 0.5); }, xs);
}

TEST(UnaryOps, ClampGradientPassesOnlyInsideBounds) {
  Tensor x = tensor({-2.0, -1.0, 0.5, 1.0, 3.0}).requires_grad_();
  mg::clamp(x, -1.0, 1.0).sum().backward();
  // The bounds themselves count as inside (min <= x <= max).
  expect_values(x.grad(), {5}, {0.0, 1.0, 1.0, 1.0, 0.0});
}

TEST(UnaryOps, PiecewiseConstantOpsHaveZeroGradient) {
  for (const NamedOp& op : std::vector<NamedOp>{
           {"sign", [](const Tensor& x) { return mg::sign(x); }},
           {"floor", [](const Tensor& x) { return mg::floor(x); }},
           {"ceil", [](const Tensor& x) { return mg::ceil(x); }},
           {"round", [](const Tensor& x) { return mg::round(x); }},
       }) {
    SCOPED_TRACE(op.name);
    Tensor x = tensor({-1.3, 0.2, 2.6}).requires_grad_();
    Tensor y = op.fn(x);
    ASSERT_TRUE(y.requires_grad());
    (y * 3.0).sum().backward();
    expect_values(x.grad(), {3}, {0.0, 0.0, 0.0});
    expect_unary_gradcheck(op.fn, {-1.3, 0.2, 2.6});
  }
}

TEST(UnaryOps, GradientThroughNonContiguousInput) {
  Tensor x = grad_input({2, 3});
  auto fn = [](const std::vector<Tensor>& in) { return mg::sin(in[0].t()) * 2.0; };
  std::vector<Tensor> inputs{x};
  EXPECT_GRADCHECK(fn, inputs);
}

}  // namespace
}  // namespace mixgrad
