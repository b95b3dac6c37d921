// Binary arithmetic, broadcasting, dtype promotion, comparisons and logic, where/masked_fill and
// the in-place forms.
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "common/test_util.h"

namespace mixgrad {
namespace {

using testing::expect_values;
using testing::grad_input;

using BinaryFn = std::function<Tensor(const Tensor&, const Tensor&)>;

// gradcheck of a two-input op with both inputs requiring grad.
void expect_binary_gradcheck(const BinaryFn& op, const Tensor& a, const Tensor& b) {
  auto fn = [&op](const std::vector<Tensor>& in) { return op(in[0], in[1]); };
  std::vector<Tensor> inputs{a, b};
  EXPECT_GRADCHECK(fn, inputs);
}

// A float64 leaf requiring grad with values in [low, low + 1) (bases of pow, divisors).
Tensor grad_input_from(const Shape& shape, double low, uint64_t seed) {
  Generator gen(seed);
  Tensor r;
  {
    NoGradGuard no_grad;
    r = rand(shape, kFloat64, &gen) + low;
  }
  return r.requires_grad_();
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------- arithmetic values

TEST(BinaryOps, ArithmeticIsExact) {
  Tensor a = tensor({1.0f, 2.0f, 3.0f, 4.0f});
  Tensor b = tensor({0.5f, -1.0f, 2.0f, 8.0f});
  expect_values(mg::add(a, b), {4}, {1.5, 1.0, 5.0, 12.0});
  expect_values(mg::sub(a, b), {4}, {0.5, 3.0, 1.0, -4.0});
  expect_values(mg::mul(a, b), {4}, {0.5, -2.0, 6.0, 32.0});
  expect_values(mg::div(a, b), {4}, {2.0, -2.0, 1.5, 0.5});
  expect_values(a + b, {4}, {1.5, 1.0, 5.0, 12.0});
  expect_values(a - b, {4}, {0.5, 3.0, 1.0, -4.0});
  expect_values(a * b, {4}, {0.5, -2.0, 6.0, 32.0});
  expect_values(a / b, {4}, {2.0, -2.0, 1.5, 0.5});
}

TEST(BinaryOps, AddAndSubScaleTheSecondOperandByAlpha) {
  Tensor a = tensor({1.0, 2.0}), b = tensor({4.0, -8.0});
  expect_values(mg::add(a, b, 2), {2}, {9.0, -14.0});
  expect_values(mg::sub(a, b, 0.5), {2}, {-1.0, 6.0});
  expect_values(a.add(b, -1), {2}, {-3.0, 10.0});
  expect_values(mg::add(tensor<int32_t>({1, 2}), tensor<int32_t>({3, 4}), 3), {2}, {10, 14});
}

TEST(BinaryOps, DivisionByZeroFollowsIeee) {
  expect_values(
      mg::div(tensor({1.0, -1.0, 0.0}), tensor({0.0, 0.0, 0.0})), {3},
      {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(), kNaN});
}

TEST(BinaryOps, DivOfIntegersIsTrueDivision) {
  Tensor q = mg::div(tensor<int32_t>({7, -7, 1}), tensor<int32_t>({2, 2, 4}));
  EXPECT_EQ(q.dtype(), kFloat32);
  expect_values(q, {3}, {3.5, -3.5, 0.25});
  Tensor h = tensor<int64_t>({3, 5}) / 2;
  EXPECT_EQ(h.dtype(), kFloat32);
  expect_values(h, {2}, {1.5, 2.5});
  // Dividing by an integer zero is IEEE division once promoted, not a crash.
  expect_values(tensor<int32_t>({1}) / 0, {1}, {std::numeric_limits<double>::infinity()});
}

TEST(BinaryOps, PowValues) {
  expect_values(mg::pow(tensor({2.0, 3.0, 4.0, 9.0}), tensor({3.0, 0.0, 0.5, -1.0})), {4},
                {8.0, 1.0, 2.0, 1.0 / 9.0}, 1e-15);
  expect_values(tensor({1.5f, -2.0f}).pow(2), {2}, {2.25, 4.0});
  expect_values(mg::pow(2, tensor({0.0, 3.0, -1.0})), {3}, {1.0, 8.0, 0.5});
  Tensor pi = mg::pow(tensor<int32_t>({2, 3}), 2);
  EXPECT_EQ(pi.dtype(), kFloat32);
  expect_values(pi, {2}, {4.0, 9.0});
}

TEST(BinaryOps, MaximumMinimumAreExactAndPropagateNaN) {
  Tensor a = tensor({1.0, 5.0, -2.0, kNaN}), b = tensor({3.0, 4.0, -2.0, 0.0});
  expect_values(mg::maximum(a, b), {4}, {3.0, 5.0, -2.0, kNaN});
  expect_values(mg::minimum(a, b), {4}, {1.0, 4.0, -2.0, kNaN});
  expect_values(mg::maximum(b, a), {4}, {3.0, 5.0, -2.0, kNaN});
  Tensor mi = mg::minimum(tensor<int64_t>({4, -9}), tensor<int64_t>({2, 3}));
  EXPECT_EQ(mi.dtype(), kInt64);
  expect_values(mi, {2}, {2, -9});
}

TEST(BinaryOps, CppNumbersOnEitherSide) {
  Tensor x = tensor({1.0f, -2.0f, 4.0f});
  expect_values(x * 2, {3}, {2.0, -4.0, 8.0});
  expect_values(2 * x, {3}, {2.0, -4.0, 8.0});
  expect_values(x + 0.5, {3}, {1.5, -1.5, 4.5});
  expect_values(10 - x, {3}, {9.0, 12.0, 6.0});
  expect_values(x - 10, {3}, {-9.0, -12.0, -6.0});
  expect_values(1 / x, {3}, {1.0, -0.5, 0.25});
  expect_values(x / 4, {3}, {0.25, -0.5, 1.0});
  EXPECT_EQ((2.0 * x).dtype(), kFloat32);
}

TEST(BinaryOps, BoolArithmeticIsLogical) {
  Tensor a = tensor({true, true, false, false}), b = tensor({true, false, true, false});
  Tensor sum = a + b;
  EXPECT_EQ(sum.dtype(), kBool);
  expect_values(sum, {4}, {1, 1, 1, 0});
  expect_values(a * b, {4}, {1, 0, 0, 0});
}

TEST(BinaryOps, SubtractingBoolsIsRejected) {
  // As PyTorch: the result would be xor or 0/1 arithmetic, hiding a mask meant to be inverted.
  const Tensor a = tensor({true, false}), b = tensor({true, true});
  const char* two = "with two bool tensors is not supported; use ne() (logical xor) instead";
  const char* one =
      "with a bool tensor is not supported; if you are trying to invert a mask, use "
      "logical_not() instead";
  EXPECT_MG_ERROR(mg::sub(a, b), std::string("sub: subtraction, the `-` operator, ") + two);
  EXPECT_MG_ERROR(a - b, two);
  EXPECT_MG_ERROR(a - true, two);  // a C++ bool is a bool operand too
  EXPECT_MG_ERROR(1 - a, std::string("sub: subtraction, the `-` operator, ") + one);  // rsub
  EXPECT_MG_ERROR(a - 1, one);
  EXPECT_MG_ERROR(tensor({1.0f, 2.0f}) - a, one);
  EXPECT_MG_ERROR(tensor<int64_t>({1, 2}) - false, one);
  Tensor m = tensor({true, false});
  EXPECT_MG_ERROR(m.sub_(b), "sub_: subtraction");
  EXPECT_MG_ERROR(m -= 1, one);
  Tensor f = tensor({1.0, 2.0});
  EXPECT_MG_ERROR(f.sub_(a), std::string("sub_: subtraction, the `-` operator, ") + one);
  expect_values(m, {2}, {1, 0});  // nothing was written
  expect_values(f, {2}, {1, 2});
  // What the messages suggest instead, and subtraction of bools converted to numbers.
  expect_values(mg::ne(a, b), {2}, {0, 1});
  expect_values(mg::logical_not(a), {2}, {0, 1});
  expect_values(1 - a.to(kInt64), {2}, {0, 1});
}

// ---------------------------------------------------------------- broadcasting

TEST(BinaryBroadcast, MatrixPlusRowVector) {
  Tensor m = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  expect_values(m + tensor({10.0, 20.0, 30.0}), {2, 3}, {11, 22, 33, 14, 25, 36});
  expect_values(tensor({10.0, 20.0, 30.0}) - m, {2, 3}, {9, 18, 27, 6, 15, 24});
}

TEST(BinaryBroadcast, ColumnTimesRowIsOuterProduct) {
  Tensor col = tensor({1.0, 2.0}).reshape({2, 1});
  Tensor row = tensor({3.0, 4.0, 5.0}).reshape({1, 3});
  expect_values(col * row, {2, 3}, {3, 4, 5, 6, 8, 10});
  expect_values(row * col, {2, 3}, {3, 4, 5, 6, 8, 10});
}

TEST(BinaryBroadcast, LeadingAndInnerDimsTogether) {
  Tensor a = arange(6, kFloat64).reshape({2, 1, 3});  // [[0,1,2]], [[3,4,5]]
  Tensor b = tensor({0.0, 10.0}).reshape({2, 1});     // broadcast to [2, 2, 3]
  expect_values(a + b, {2, 2, 3}, {0, 1, 2, 10, 11, 12, 3, 4, 5, 13, 14, 15});
}

TEST(BinaryBroadcast, ZeroDimTensors) {
  Tensor s = scalar_tensor(3.0, kFloat64);
  expect_values(s * tensor({{1.0, 2.0}, {3.0, 4.0}}), {2, 2}, {3, 6, 9, 12});
  Tensor both = s + scalar_tensor(0.5, kFloat64);
  EXPECT_EQ(both.dim(), 0);
  EXPECT_EQ(both.item<double>(), 3.5);
  expect_values(mg::maximum(s, tensor({1.0, 4.0})), {2}, {3.0, 4.0});
}

TEST(BinaryBroadcast, EmptyTensors) {
  Tensor e = zeros({0, 3});
  EXPECT_EQ((e + tensor({1.0f, 2.0f, 3.0f})).shape(), (Shape{0, 3}));
  EXPECT_EQ((e * ones({1, 3})).shape(), (Shape{0, 3}));
  EXPECT_EQ((e * 2).shape(), (Shape{0, 3}));
  EXPECT_EQ(mg::lt(e, 1).shape(), (Shape{0, 3}));
  EXPECT_EQ(mg::lt(e, 1).dtype(), kBool);
  EXPECT_MG_ERROR(e + zeros({2, 3}), "cannot be broadcast");
}

TEST(BinaryBroadcast, IncompatibleShapesNameBothShapes) {
  EXPECT_MG_ERROR(zeros({2, 3}) + zeros({4}), "add: shapes [2, 3] and [4]");
  EXPECT_MG_ERROR(mg::mul(zeros({2, 3}), zeros({3, 2})), "mul: shapes [2, 3] and [3, 2]");
  EXPECT_MG_ERROR(mg::maximum(zeros({5}), zeros({2})), "maximum");
  EXPECT_MG_ERROR(mg::eq(zeros({5}), zeros({2})), "eq: shapes [5] and [2]");
  EXPECT_MG_ERROR(mg::where(zeros({3}, kBool), zeros({3}), zeros({2})), "where");
}

TEST(BinaryBroadcast, NonContiguousOperands) {
  Tensor m = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  Tensor t = m.t();  // [3, 2]: [[1,4],[2,5],[3,6]]
  ASSERT_FALSE(t.is_contiguous());
  expect_values(t + tensor({{0.0, 10.0}, {0.0, 10.0}, {0.0, 10.0}}), {3, 2}, {1, 14, 2, 15, 3, 16});
  expect_values(t * tensor({1.0, -1.0}), {3, 2}, {1, -4, 2, -5, 3, -6});
  Tensor expanded = tensor({2.0, 3.0}).unsqueeze(1).expand({2, 3});  // [[2,2,2],[3,3,3]]
  expect_values(m * expanded, {2, 3}, {2, 4, 6, 12, 15, 18});
  expect_values(m.t() - expanded.t(), {3, 2}, {-1, 1, 0, 2, 1, 3});
  Tensor strided = arange(10, kFloat64).slice(0, 1, std::nullopt, 3);  // [1, 4, 7]
  expect_values(strided * m, {2, 3}, {1, 8, 21, 4, 20, 42});
}

TEST(BinaryBroadcast, LargeBroadcastTakesTheParallelPath) {
  const int64_t rows = 300, cols = 257;
  Tensor a = arange(rows, kFloat64).reshape({rows, 1});
  Tensor b = arange(cols, kFloat64);
  std::vector<double> got = (a * 1000 + b).to_vector<double>();
  ASSERT_EQ(got.size(), static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; i += 37)
    for (int64_t j = 0; j < cols; j += 29) EXPECT_EQ(got[i * cols + j], i * 1000.0 + j);
  EXPECT_EQ(got.back(), (rows - 1) * 1000.0 + (cols - 1));
}

// ---------------------------------------------------------------- dtype promotion

TEST(BinaryPromotion, IntTensorWithIntNumberStaysInt32) {
  Tensor r = tensor<int32_t>({1, 2}) + 2;
  EXPECT_EQ(r.dtype(), kInt32);
  expect_values(r, {2}, {3, 4});
  EXPECT_EQ((3 * tensor<int32_t>({1})).dtype(), kInt32);
}

TEST(BinaryPromotion, IntTensorWithFloatNumberGivesDefaultFloat) {
  Tensor r = tensor<int32_t>({1, 2}) + 2.5;
  EXPECT_EQ(r.dtype(), kFloat32);
  expect_values(r, {2}, {3.5, 4.5});
  DefaultDtypeGuard float64(kFloat64);
  EXPECT_EQ((tensor<int64_t>({1}) * 0.5).dtype(), kFloat64);
}

TEST(BinaryPromotion, FloatTensorWithNumberKeepsItsDtype) {
  EXPECT_EQ((tensor({1.0f}) * 2.0).dtype(), kFloat32);
  EXPECT_EQ((tensor({1.0f}) + 2).dtype(), kFloat32);
  EXPECT_EQ((tensor({1.0}) * 2.0f).dtype(), kFloat64);
}

TEST(BinaryPromotion, TensorsWidenToTheLargerDtype) {
  Tensor r = tensor<int32_t>({1, 2}) + tensor<int64_t>({10, 20});
  EXPECT_EQ(r.dtype(), kInt64);
  expect_values(r, {2}, {11, 22});
  Tensor f = tensor({1.5f}) + tensor({0.25});
  EXPECT_EQ(f.dtype(), kFloat64);
  expect_values(f, {1}, {1.75});
  EXPECT_EQ((tensor<int64_t>({1}) * tensor({2.0f})).dtype(), kFloat32);
  EXPECT_EQ((tensor({true}) + tensor<int32_t>({1})).dtype(), kInt32);
}

TEST(BinaryPromotion, ZeroDimTensorOnlyWidensAcrossCategories) {
  Tensor f32 = tensor({1.0f, 2.0f});
  EXPECT_EQ((f32 + scalar_tensor(1.0, kFloat64)).dtype(), kFloat32);
  EXPECT_EQ((tensor<int32_t>({1}) + scalar_tensor(1, kInt64)).dtype(), kInt32);
  // An integer tensor meeting a 0-dim float64 tensor takes that tensor's dtype.
  EXPECT_EQ((tensor<int32_t>({1}) + scalar_tensor(0.5, kFloat64)).dtype(), kFloat64);
  // Two 0-dim tensors promote normally.
  EXPECT_EQ((scalar_tensor(1.0, kFloat32) + scalar_tensor(1.0, kFloat64)).dtype(), kFloat64);
}

TEST(BinaryPromotion, BoolWithNumbers) {
  Tensor b = tensor({true, false});
  Tensor i = b + 1;
  EXPECT_EQ(i.dtype(), kInt64);
  expect_values(i, {2}, {2, 1});
  EXPECT_EQ((b * 1.5).dtype(), kFloat32);
}

TEST(BinaryPromotion, ResultTypeMatchesTheRules) {
  EXPECT_EQ(result_type(tensor<int32_t>({1}), 2), kInt32);
  EXPECT_EQ(result_type(tensor<int32_t>({1}), 2.5), kFloat32);
  EXPECT_EQ(result_type(2.5, tensor<int32_t>({1})), kFloat32);
  EXPECT_EQ(result_type(tensor({1.0f}), 2.0), kFloat32);
  EXPECT_EQ(result_type(tensor<int32_t>({1}), tensor<int64_t>({1})), kInt64);
  EXPECT_EQ(result_type(tensor({1.0f}), tensor({1.0})), kFloat64);
  EXPECT_EQ(result_type(tensor({true}), tensor({false})), kBool);
}

TEST(BinaryPromotion, ComparisonsComputeInThePromotedDtype) {
  // 2 < 2.5 only holds if the int32 side is not truncating the float.
  Tensor lt = tensor<int32_t>({2, 3}) < 2.5;
  EXPECT_EQ(lt.dtype(), kBool);
  expect_values(lt, {2}, {1, 0});
  expect_values(tensor<int64_t>({1, 2}) == tensor({1.0f, 2.5f}), {2}, {1, 0});
  Tensor bools = tensor({true, false}) == tensor({true, true});
  EXPECT_EQ(bools.dtype(), kBool);
  expect_values(bools, {2}, {1, 0});
}

// ---------------------------------------------------------------- comparisons and logic

TEST(CompareLogic, ComparisonsAreExact) {
  Tensor a = tensor({1.0, 2.0, 3.0}), b = tensor({3.0, 2.0, 1.0});
  expect_values(mg::eq(a, b), {3}, {0, 1, 0});
  expect_values(mg::ne(a, b), {3}, {1, 0, 1});
  expect_values(mg::lt(a, b), {3}, {1, 0, 0});
  expect_values(mg::le(a, b), {3}, {1, 1, 0});
  expect_values(mg::gt(a, b), {3}, {0, 0, 1});
  expect_values(mg::ge(a, b), {3}, {0, 1, 1});
  for (const Tensor& r :
       {mg::eq(a, b), mg::ne(a, b), mg::lt(a, b), mg::le(a, b), mg::gt(a, b), mg::ge(a, b)})
    EXPECT_EQ(r.dtype(), kBool);
}

TEST(CompareLogic, OperatorsAndMethodsMatchFunctions) {
  Tensor a = tensor<int32_t>({1, 2, 3});
  expect_values(a == 2, {3}, {0, 1, 0});
  expect_values(a != 2, {3}, {1, 0, 1});
  expect_values(a < 2, {3}, {1, 0, 0});
  expect_values(a <= 2, {3}, {1, 1, 0});
  expect_values(a > 2, {3}, {0, 0, 1});
  expect_values(a >= 2, {3}, {0, 1, 1});
  expect_values(2 < a, {3}, {0, 0, 1});
  expect_values(a.ge(tensor<int32_t>({3, 2, 1})), {3}, {0, 1, 1});
}

TEST(CompareLogic, ComparisonsBroadcast) {
  Tensor col = tensor({1.0, 2.0}).reshape({2, 1});
  expect_values(mg::lt(col, tensor({0.0, 1.5, 3.0})), {2, 3}, {0, 1, 1, 0, 0, 1});
}

TEST(CompareLogic, NaNComparesUnequal) {
  Tensor n = tensor({kNaN});
  expect_values(mg::eq(n, n), {1}, {0});
  expect_values(mg::ne(n, n), {1}, {1});
  expect_values(mg::lt(n, 0.0), {1}, {0});
  expect_values(mg::ge(n, 0.0), {1}, {0});
}

TEST(CompareLogic, LogicalAndOrTreatNonZeroAsTrue) {
  Tensor a = tensor({true, true, false, false}), b = tensor({true, false, true, false});
  Tensor land = mg::logical_and(a, b), lor = mg::logical_or(a, b);
  EXPECT_EQ(land.dtype(), kBool);
  EXPECT_EQ(lor.dtype(), kBool);
  expect_values(land, {4}, {1, 0, 0, 0});
  expect_values(lor, {4}, {1, 1, 1, 0});
  Tensor x = tensor({0.0, 2.5, -1.0}), y = tensor<int32_t>({3, 0, 7});
  expect_values(mg::logical_and(x, y), {3}, {0, 0, 1});
  expect_values(mg::logical_or(x, y), {3}, {1, 1, 1});
  expect_values(mg::logical_or(tensor({0.0, 0.0}), 0), {2}, {0, 0});
  expect_values(mg::logical_and(tensor({true, false}).reshape({2, 1}), tensor({true, true})),
                {2, 2}, {1, 1, 0, 0});
}

TEST(CompareLogic, ResultsNeverRequireGrad) {
  Tensor x = grad_input({3});
  EXPECT_FALSE(mg::lt(x, 0.0).requires_grad());
  EXPECT_FALSE(mg::eq(x, x).requires_grad());
  EXPECT_FALSE(mg::logical_not(x).requires_grad());
  EXPECT_FALSE(mg::logical_and(x, x).requires_grad());
}

// ---------------------------------------------------------------- where / masked_fill

TEST(WhereMask, WhereSelectsPerElementAndBroadcasts) {
  Tensor cond = tensor({true, false, true});
  expect_values(mg::where(cond, tensor({1.0, 2.0, 3.0}), tensor({-1.0, -2.0, -3.0})), {3},
                {1.0, -2.0, 3.0});
  Tensor col = tensor({true, false}).reshape({2, 1});
  expect_values(mg::where(col, tensor({1.0, 2.0, 3.0}), 0.0), {2, 3}, {1, 2, 3, 0, 0, 0});
  Tensor w = mg::where(cond, 7, tensor<int32_t>({1, 2, 3}));
  EXPECT_EQ(w.dtype(), kInt32);
  expect_values(w, {3}, {7, 2, 7});
}

TEST(WhereMask, WherePromotesItsValues) {
  Tensor w = mg::where(tensor({true, false}), tensor<int32_t>({1, 2}), tensor({0.5f, 0.25f}));
  EXPECT_EQ(w.dtype(), kFloat32);
  expect_values(w, {2}, {1.0, 0.25});
}

TEST(WhereMask, WhereRejectsNonBoolCondition) {
  EXPECT_MG_ERROR(mg::where(tensor({1.0, 0.0}), tensor({1.0, 2.0}), tensor({3.0, 4.0})),
                  "condition must be bool, got float64");
  EXPECT_MG_ERROR(mg::where(tensor<int64_t>({1}), 1.0, 2.0), "where");
}

TEST(WhereMask, MaskedFillValuesAndBroadcastMask) {
  Tensor x = tensor({{1.0f, 2.0f, 3.0f}, {4.0f, 5.0f, 6.0f}});
  Tensor y = mg::masked_fill(x, tensor({false, true, false}), -1.5);
  EXPECT_EQ(y.dtype(), kFloat32);
  expect_values(y, {2, 3}, {1, -1.5, 3, 4, -1.5, 6});
  expect_values(x, {2, 3}, {1, 2, 3, 4, 5, 6});  // out of place
  Tensor i = tensor<int64_t>({1, 2, 3}).masked_fill(tensor({true, false, true}), 9);
  EXPECT_EQ(i.dtype(), kInt64);
  expect_values(i, {3}, {9, 2, 9});
  expect_values(mg::masked_fill(x.t(), tensor({true, false}), 0), {3, 2}, {0, 4, 0, 5, 0, 6});
}

TEST(WhereMask, MaskedFillRejectsBadMasks) {
  Tensor x = zeros({2, 3});
  EXPECT_MG_ERROR(mg::masked_fill(x, ones({2, 3}), 1.0), "mask must be bool, got float32");
  EXPECT_MG_ERROR(mg::masked_fill_(x, ones({3}, kInt64), 1.0), "mask must be bool, got int64");
  // Out of place a mask may enlarge x (the result has the broadcast shape, as in PyTorch); in
  // place it may not.
  EXPECT_EQ(mg::masked_fill(zeros({3}), zeros({2, 3}, kBool), 1.0).shape(), (Shape{2, 3}));
  Tensor small = zeros({3});
  EXPECT_MG_ERROR(mg::masked_fill_(small, zeros({2, 3}, kBool), 1.0),
                  "masked_fill_: mask of shape [2, 3] does not broadcast");
  EXPECT_MG_ERROR(mg::masked_fill_(small, zeros({2}, kBool), 1.0), "shapes [3] and [2]");
}

TEST(WhereMask, WhereGradientGoesToTheChosenBranch) {
  Tensor a = tensor({1.0, 2.0, 3.0}).requires_grad_();
  Tensor b = tensor({4.0, 5.0, 6.0}).requires_grad_();
  (mg::where(tensor({true, false, true}), a, b) * tensor({1.0, 2.0, 3.0})).sum().backward();
  expect_values(a.grad(), {3}, {1.0, 0.0, 3.0});
  expect_values(b.grad(), {3}, {0.0, 2.0, 0.0});
}

TEST(WhereMask, GradcheckWhereBothBranchesWithBroadcast) {
  Tensor cond = tensor({true, false, false, true, true, false}).reshape({2, 3});
  expect_binary_gradcheck(
      [cond](const Tensor& a, const Tensor& b) { return mg::where(cond, a, b); },
      grad_input({2, 3}, 1), grad_input({3}, 2));
}

TEST(WhereMask, GradcheckMaskedFill) {
  Tensor mask = tensor({true, false, true});
  auto fn = [mask](const std::vector<Tensor>& in) { return mg::masked_fill(in[0], mask, 2.0); };
  std::vector<Tensor> inputs{grad_input({2, 3})};
  EXPECT_GRADCHECK(fn, inputs);
  Tensor x = tensor({1.0, 2.0, 3.0}).requires_grad_();
  mg::masked_fill(x, mask, 0.0).sum().backward();
  expect_values(x.grad(), {3}, {0.0, 1.0, 0.0});
}

// ---------------------------------------------------------------- gradients

TEST(BinaryOps, GradcheckAddSubWithAlphaAndBroadcast) {
  const Tensor a = grad_input({2, 3}, 1), b = grad_input({3}, 2);
  expect_binary_gradcheck([](const Tensor& x, const Tensor& y) { return mg::add(x, y); }, a, b);
  expect_binary_gradcheck([](const Tensor& x, const Tensor& y) { return mg::add(x, y, 2.5); }, a,
                          b);
  expect_binary_gradcheck([](const Tensor& x, const Tensor& y) { return mg::sub(x, y); }, b, a);
  expect_binary_gradcheck([](const Tensor& x, const Tensor& y) { return mg::sub(x, y, -3); }, a, b);
}

TEST(BinaryOps, GradcheckMulDivWithBroadcast) {
  const Tensor col = grad_input({2, 1}, 3), row = grad_input_from({1, 3}, 0.5, 4);
  expect_binary_gradcheck([](const Tensor& x, const Tensor& y) { return x * y; }, col, row);
  expect_binary_gradcheck([](const Tensor& x, const Tensor& y) { return x / y; }, col, row);
  expect_binary_gradcheck([](const Tensor& x, const Tensor& y) { return y / x; },
                          grad_input_from({2, 1}, 1.0, 5), grad_input({2, 3}, 6));
}

TEST(BinaryOps, BroadcastGradientSumsOverBroadcastDims) {
  Tensor a = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}).requires_grad_();
  Tensor b = tensor({10.0, 20.0, 30.0}).requires_grad_();
  Tensor s = scalar_tensor(2.0, kFloat64).requires_grad_();
  (a * b * s).sum().backward();
  expect_values(b.grad(), {3}, {10.0, 14.0, 18.0});  // 2 * column sums of a
  expect_values(a.grad(), {2, 3}, {20, 40, 60, 20, 40, 60});
  EXPECT_EQ(s.grad().dim(), 0);
  EXPECT_EQ(s.grad().item<double>(), 1.0 * 10 + 2 * 20 + 3 * 30 + 4 * 10 + 5 * 20 + 6 * 30);
}

TEST(BinaryOps, GradcheckPowBothInputs) {
  expect_binary_gradcheck([](const Tensor& x, const Tensor& y) { return mg::pow(x, y); },
                          grad_input_from({2, 3}, 0.5, 7), grad_input({2, 3}, 8));
  expect_binary_gradcheck([](const Tensor& x, const Tensor& y) { return mg::pow(x, y); },
                          grad_input_from({3}, 0.5, 9), grad_input({2, 1}, 10));
}

TEST(BinaryOps, GradcheckPowWithNumberOperands) {
  auto cube = [](const std::vector<Tensor>& in) { return mg::pow(in[0], 3); };
  auto two_to = [](const std::vector<Tensor>& in) { return mg::pow(2.0, in[0]); };
  std::vector<Tensor> inputs{grad_input({2, 3})};
  EXPECT_GRADCHECK(cube, inputs);
  EXPECT_GRADCHECK(two_to, inputs);
}

TEST(BinaryOps, PowGradientAtZeroExponentAndZeroBase) {
  Tensor x = tensor({0.0, 2.0}).requires_grad_();
  Tensor y = tensor({0.0, 0.0}).requires_grad_();
  mg::pow(x, y).sum().backward();
  expect_values(x.grad(), {2}, {0.0, 0.0});  // x^0 is constant in x
  // d/dy x^y = x^y log x, taken as 0 at x = 0 (not 1 * -inf).
  expect_values(y.grad(), {2}, {0.0, std::log(2.0)}, 1e-15);
}

TEST(BinaryOps, GradcheckMaximumMinimumWithoutTies) {
  const Tensor a = tensor({-1.0, 2.0, 0.5, 3.0}).requires_grad_();
  const Tensor b = tensor({0.0, 1.0, 1.5, -2.0}).requires_grad_();
  expect_binary_gradcheck([](const Tensor& x, const Tensor& y) { return mg::maximum(x, y); }, a, b);
  expect_binary_gradcheck([](const Tensor& x, const Tensor& y) { return mg::minimum(x, y); }, a, b);
  expect_binary_gradcheck([](const Tensor& x, const Tensor& y) { return mg::maximum(x, y); },
                          grad_input({2, 3}, 12), grad_input({3}, 13));
}

TEST(BinaryOps, MaximumMinimumTiesSplitTheGradient) {
  Tensor a = tensor({1.0, 2.0, 3.0}).requires_grad_();
  Tensor b = tensor({1.0, 5.0, 0.0}).requires_grad_();
  mg::maximum(a, b).sum().backward();
  expect_values(a.grad(), {3}, {0.5, 0.0, 1.0});
  expect_values(b.grad(), {3}, {0.5, 1.0, 0.0});
  a.zero_grad();
  b.zero_grad();
  mg::minimum(a, b).sum().backward();
  expect_values(a.grad(), {3}, {0.5, 1.0, 0.0});
  expect_values(b.grad(), {3}, {0.5, 0.0, 1.0});
}

TEST(BinaryOps, GradientReachesOnlyInputsThatRequireIt) {
  Tensor a = grad_input({3});
  Tensor b = tensor({1.0, 2.0, 3.0});
  (a * b).sum().backward();
  expect_values(a.grad(), {3}, {1.0, 2.0, 3.0});
  EXPECT_FALSE(b.grad().defined());
}

TEST(BinaryOps, GradientFlowsBackToFloat32Leaf) {
  Tensor a = tensor({1.0f, 2.0f}).requires_grad_();
  Tensor b = tensor({3.0, 4.0}).requires_grad_();
  Tensor y = a * b;
  EXPECT_EQ(y.dtype(), kFloat64);
  y.sum().backward();
  EXPECT_EQ(a.grad().dtype(), kFloat32);
  expect_values(a.grad(), {2}, {3.0, 4.0});
  expect_values(b.grad(), {2}, {1.0, 2.0});
}

// ---------------------------------------------------------------- in-place forms

TEST(InplaceOps, AddSubWithAlphaWriteIntoSelf) {
  Tensor x = tensor({1.0, 2.0, 3.0});
  const auto* impl = x.impl_ptr().get();
  const uint64_t v0 = x.version();
  Tensor& r = mg::add_(x, tensor({1.0, 1.0, 1.0}), 2);
  EXPECT_EQ(r.impl_ptr().get(), impl);
  expect_values(x, {3}, {3.0, 4.0, 5.0});
  EXPECT_EQ(x.version(), v0 + 1);
  x.sub_(tensor({0.5, 1.0, 1.5}), 2);
  expect_values(x, {3}, {2.0, 2.0, 2.0});
  EXPECT_EQ(x.version(), v0 + 2);
  x.sub_(1);
  expect_values(x, {3}, {1.0, 1.0, 1.0});
}

TEST(InplaceOps, MulDivWriteIntoSelfAndBumpVersion) {
  Tensor x = tensor({{1.0f, 2.0f}, {3.0f, 4.0f}});
  const uint64_t v0 = x.version();
  x.mul_(tensor({2.0f, -1.0f}));  // broadcast other
  expect_values(x, {2, 2}, {2, -2, 6, -4});
  x.div_(2);
  expect_values(x, {2, 2}, {1, -1, 3, -2});
  EXPECT_EQ(x.version(), v0 + 2);
  x += 1;
  x -= tensor({1.0f, 0.0f});
  x *= 4;
  x /= tensor({{1.0f}, {2.0f}});
  expect_values(x, {2, 2}, {4, 0, 6, -2});
  EXPECT_EQ(x.version(), v0 + 6);
}

TEST(InplaceOps, ClampAndMaskedFillWriteIntoSelf) {
  Tensor x = tensor({-3.0, 0.5, 4.0});
  const uint64_t v0 = x.version();
  x.clamp_(-1.0, 1.0);
  expect_values(x, {3}, {-1.0, 0.5, 1.0});
  mg::clamp_(x, std::nullopt, 0.0);
  expect_values(x, {3}, {-1.0, 0.0, 0.0});
  x.masked_fill_(tensor({false, true, false}), 7.0);
  expect_values(x, {3}, {-1.0, 7.0, 0.0});
  EXPECT_EQ(x.version(), v0 + 3);
  Tensor m = zeros({2, 2}, kInt32);
  mg::masked_fill_(m, tensor({true, false}), 5);  // mask broadcast over rows
  expect_values(m, {2, 2}, {5, 0, 5, 0});
  Tensor i = tensor<int64_t>({-9, 3, 12});
  i.clamp_(0.0, 10.0);
  expect_values(i, {3}, {0, 3, 10});
  // A missing bound (infinite) must not wrap around when converted to an integer type.
  i.clamp_(std::nullopt, 5.0);
  expect_values(i, {3}, {0, 3, 5});
  i.clamp_(1.0, std::nullopt);
  expect_values(i, {3}, {1, 3, 5});
}

TEST(InplaceOps, SelfKeepsItsDtype) {
  Tensor x = tensor({1.0f, 2.0f});
  x.add_(tensor({0.5, 0.25}));  // float64 other
  EXPECT_EQ(x.dtype(), kFloat32);
  expect_values(x, {2}, {1.5, 2.25});
  Tensor i = tensor<int32_t>({1, 2});
  i.mul_(3);
  EXPECT_EQ(i.dtype(), kInt32);
  expect_values(i, {2}, {3, 6});
  EXPECT_MG_ERROR(i.div_(2),
                  "div_: result type float32 can't be cast to the desired output type int32");
}

TEST(InplaceOps, SelfMustHoldTheBroadcastShape) {
  Tensor x = zeros({3});
  EXPECT_MG_ERROR(x.add_(ones({2, 3})), "add_");
  EXPECT_MG_ERROR(x.mul_(ones({4})), "mul_: shapes [3] and [4]");
}

TEST(InplaceOps, WritesThroughViewsWhenNotRecording) {
  Tensor base = zeros({2, 3});
  Tensor t = base.t();
  t.add_(tensor({1.0f, 2.0f}));  // t is [3, 2]: column j of base gets j + 1
  expect_values(base, {2, 3}, {1, 1, 1, 2, 2, 2});
  EXPECT_EQ(base.version(), t.version());
  Tensor row = base.select(0, 1);
  row.mul_(10);
  expect_values(base, {2, 3}, {1, 1, 1, 20, 20, 20});
}

TEST(InplaceOps, LeafRequiringGradCannotBeModified) {
  Tensor w = tensor({1.0, 2.0}).requires_grad_();
  EXPECT_MG_ERROR(w.add_(1), "add_: a leaf tensor that requires grad");
  EXPECT_MG_ERROR(w.sub_(1), "sub_");
  EXPECT_MG_ERROR(w.mul_(2), "mul_");
  EXPECT_MG_ERROR(w.div_(2), "div_");
  EXPECT_MG_ERROR(w.clamp_(0.0, 1.0), "clamp_");
  EXPECT_MG_ERROR(w.masked_fill_(tensor({true, false}), 0.0), "masked_fill_");
  expect_values(w, {2}, {1.0, 2.0});  // untouched by the rejected ops
  {
    NoGradGuard no_grad;  // e.g. an optimizer step
    w.sub_(tensor({0.5, 0.5}), 2);
  }
  expect_values(w, {2}, {0.0, 1.0});
  EXPECT_TRUE(w.is_leaf());
}

TEST(InplaceOps, NonLeafInGraphGetsTheRightGradient) {
  Tensor x = tensor({-2.0, 0.5, 3.0}).requires_grad_();
  Tensor y = x * 2;                    // [-4, 1, 6]
  y.add_(tensor({1.0, 1.0, 1.0}), 3);  // [-1, 4, 9]
  y.mul_(x);                           // [2, 2, 27] = (2x + 3) x
  y.sub_(1);
  ASSERT_FALSE(y.is_leaf());
  expect_values(y, {3}, {1.0, 1.0, 26.0});
  y.sum().backward();
  // d/dx (2x^2 + 3x - 1) = 4x + 3
  expect_values(x.grad(), {3}, {-5.0, 5.0, 15.0});
}

TEST(InplaceOps, ClampAndMaskedFillInGraph) {
  Tensor x = tensor({-2.0, 0.5, 3.0, 0.25}).requires_grad_();
  Tensor y = x * 1.0;
  y.clamp_(-1.0, 1.0);
  y.masked_fill_(tensor({false, false, false, true}), 0.0);
  y.div_(2);
  expect_values(y, {4}, {-0.5, 0.25, 0.5, 0.0});
  y.sum().backward();
  expect_values(x.grad(), {4}, {0.0, 0.5, 0.0, 0.0});
}

TEST(InplaceOps, GradcheckThroughInPlaceOps) {
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor y = in[0] * 1.0;
    y.add_(in[1], 0.5);
    y.mul_(in[1]);
    y.div_(2.0);
    return y;
  };
  std::vector<Tensor> inputs{grad_input({2, 3}, 1), grad_input({3}, 2)};
  EXPECT_GRADCHECK(fn, inputs);
}

TEST(InplaceOps, PlainTensorTakesTheHistoryOfAnOperandThatRequiresGrad) {
  Tensor acc = zeros({3}, kFloat64);
  Tensor w = tensor({1.0, 2.0, 3.0}).requires_grad_();
  acc.add_(w, 2);
  acc.mul_(w);  // acc = 2 w^2
  ASSERT_TRUE(acc.requires_grad());
  EXPECT_FALSE(acc.is_leaf());
  acc.sum().backward();
  expect_values(w.grad(), {3}, {4.0, 8.0, 12.0});
}

TEST(InplaceOps, ModifyingASavedTensorFailsAtBackward) {
  Tensor x = tensor({0.5, 1.0}).requires_grad_();
  Tensor y = x * 1.0;
  Tensor z = mg::sin(y);  // saves y
  // While recording, the write itself is refused: y's memory is shared with the saved value.
  EXPECT_MG_ERROR(y.add_(1), "shares storage with other tensors");
  {
    mg::NoGradGuard guard;  // unrecorded writes are caught by the version counter instead
    y.add_(1);
  }
  EXPECT_MG_ERROR(z.sum().backward(), "modified by an in-place operation");

  Tensor e = mg::exp(x * 1.0);  // saves its own output
  {
    mg::NoGradGuard guard;
    e.mul_(2);
  }
  EXPECT_MG_ERROR(e.sum().backward(), "modified by an in-place operation");
}

TEST(InplaceOps, ModifyingAnUnsavedInputIsFine) {
  Tensor x = tensor({1.0, 2.0}).requires_grad_();
  Tensor y = x * 1.0;
  Tensor z = y + 1;  // add saves nothing
  y.mul_(5);
  z.sum().backward();
  expect_values(x.grad(), {2}, {1.0, 1.0});
}

TEST(InplaceOps, ViewOfRecordedTensorIsRejected) {
  Tensor x = grad_input({2, 3});
  Tensor y = x * 1.0;
  Tensor row = y.select(0, 0);
  EXPECT_MG_ERROR(row.add_(1), "view");
}

}  // namespace
}  // namespace mixgrad
