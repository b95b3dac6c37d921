// cumprod, cummax, cummin and logcumsumexp (cumsum's own tests are in reduce_test.cpp): values
// against naive loops, PyTorch's tie and NaN rules, dtypes, zeros in cumprod's gradient, large
// logcumsumexp inputs and errors. Gradcheck on random inputs and layouts is the op table's.
#include <cmath>
#include <limits>
#include <vector>

#include "common/test_util.h"

namespace mixgrad {
namespace {

namespace mg = mixgrad;
using testing::expect_values;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// The gradient of sum(f(x) * w) at x.
Tensor grad_of(const std::function<Tensor(const Tensor&)>& f, const Tensor& x, const Tensor& w) {
  Tensor leaf = x.detach().clone().requires_grad_();
  (f(leaf) * w).sum().backward();
  return leaf.grad();
}

TEST(Scan, CumprodValuesAlongEachDim) {
  const Tensor m = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  expect_values(mg::cumprod(m, 0), {2, 3}, {1, 2, 3, 4, 10, 18});
  expect_values(mg::cumprod(m, 1), {2, 3}, {1, 2, 6, 4, 20, 120});
  expect_values(mg::cumprod(m.t(), 0), {3, 2}, {1, 4, 2, 20, 6, 120});
  expect_values(mg::cumprod(scalar_tensor(3.0), -1), {}, {3.0});
  EXPECT_EQ(mg::cumprod(zeros({0, 4}), 1).shape(), (Shape{0, 4}));
}

TEST(Scan, CumprodOfIntegersAndBoolsIsInt64) {
  const Tensor i = mg::cumprod(tensor<int32_t>({100000, 100000, 3}), 0);
  EXPECT_EQ(i.dtype(), kInt64);
  expect_values(i, {3}, {1e5, 1e10, 3e10});
  const Tensor b = mg::cumprod(tensor<bool>({true, true, false, true}), 0);
  EXPECT_EQ(b.dtype(), kInt64);
  expect_values(b, {4}, {1, 1, 0, 0});
}

// d out_j / d x_k is the product of the other factors of out_j: with zeros, the first zero gets
// the product of the factors around it and every later position nothing.
TEST(Scan, CumprodGradientWithZeros) {
  const Tensor x = tensor({2.0, 0.0, 3.0, 0.0, 5.0});
  const Tensor w = tensor({1.0, 10.0, 100.0, 1000.0, 10000.0});
  // out = [2, 0, 0, 0, 0]; d/dx0 = 1; d/dx1 = 10 * 2 + 100 * 2 * 3 = 620; the rest 0.
  expect_values(grad_of([](const Tensor& v) { return mg::cumprod(v, 0); }, x, w), {5},
                {1.0, 620.0, 0.0, 0.0, 0.0});
  const Tensor first = tensor({0.0, 4.0, 0.5});
  expect_values(
      grad_of([](const Tensor& v) { return mg::cumprod(v, 0); }, first, tensor({1.0, 1.0, 1.0})),
      {3}, {1.0 + 4.0 + 2.0, 0.0, 0.0});
  Tensor leaf = tensor({{1.5, 0.0, -2.0, 0.0}, {0.0, 0.7, 0.0, 1.1}}).requires_grad_();
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return mg::cumprod(in[0], 1); },
                   std::vector<Tensor>{leaf});
}

// A naive running max / min with PyTorch's rules: ties and NaNs move the position forward.
void expect_running_extreme(bool is_max, const std::vector<double>& x) {
  const ValuesIndices r = is_max ? mg::cummax(tensor(x), 0) : mg::cummin(tensor(x), 0);
  std::vector<double> values, positions;
  double best = 0;
  int64_t at = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const bool better = is_max ? x[i] >= best : x[i] <= best;
    if (i == 0 || std::isnan(x[i]) || (!std::isnan(best) && better)) {
      best = x[i];
      at = static_cast<int64_t>(i);
    }
    values.push_back(best);
    positions.push_back(static_cast<double>(at));
  }
  const int64_t n = static_cast<int64_t>(x.size());
  expect_values(r.values, {n}, values);
  EXPECT_EQ(r.indices.dtype(), kInt64);
  expect_values(r.indices, {n}, positions);
}

TEST(Scan, CummaxAndCumminFollowPytorchOnTiesAndNaN) {
  for (bool is_max : {true, false}) {
    SCOPED_TRACE(is_max ? "cummax" : "cummin");
    expect_running_extreme(is_max, {1, 3, 3, 2, 3, 0, -1, -1});
    expect_running_extreme(is_max, {2, kNaN, 5, kNaN, -3});
    expect_running_extreme(is_max, {-kInf, kInf, 0});
  }
  // Exactly PyTorch's: torch.cummax(torch.tensor([1., 3., 3., 2.]), 0).indices == [0, 1, 2, 2].
  expect_values(mg::cummax(tensor({1.0, 3.0, 3.0, 2.0}), 0).indices, {4}, {0, 1, 2, 2});
}

TEST(Scan, CummaxKeepsTheDtypeAndRunsAlongAnyDim) {
  const Tensor i = tensor<int32_t>({3, 1, 4, 1, 5, 9}, Shape{2, 3});
  const ValuesIndices r = mg::cummax(i, 0);
  EXPECT_EQ(r.values.dtype(), kInt32);
  expect_values(r.values, {2, 3}, {3, 1, 4, 3, 5, 9});
  expect_values(r.indices, {2, 3}, {0, 0, 0, 0, 1, 1});
  expect_values(mg::cummin(i, 1).values, {2, 3}, {3, 1, 1, 1, 1, 1});
  expect_values(mg::cummin(i, 1).indices, {2, 3}, {0, 1, 1, 0, 0, 0});
}

TEST(Scan, CummaxGradientGoesToThePositions) {
  const Tensor x = tensor({1.0, 3.0, 2.0, 5.0});
  expect_values(grad_of([](const Tensor& v) { return mg::cummax(v, 0).values; }, x,
                        tensor({1.0, 10.0, 100.0, 1000.0})),
                {4}, {1.0, 110.0, 0.0, 1000.0});
  expect_values(grad_of([](const Tensor& v) { return mg::cummin(v, -1).values; }, x,
                        tensor({1.0, 10.0, 100.0, 1000.0})),
                {4}, {1111.0, 0.0, 0.0, 0.0});
}

TEST(Scan, LogcumsumexpMatchesTheNaiveFormulaAndDoesNotOverflow) {
  const std::vector<double> x = {0.5, -1.0, 2.0, 0.0};
  std::vector<double> expected;
  double s = 0;
  for (double v : x) expected.push_back(std::log(s += std::exp(v)));
  expect_values(mg::logcumsumexp(tensor(x), 0), {4}, expected, 1e-14);
  // exp(1000) overflows a double; the running log-sum-exp does not.
  expect_values(mg::logcumsumexp(tensor({1000.0, 1000.0, -kInf}), 0), {3},
                {1000.0, 1000.0 + std::log(2.0), 1000.0 + std::log(2.0)}, 1e-12);
  expect_values(mg::logcumsumexp(tensor({-kInf, -kInf, 0.0}), 0), {3}, {-kInf, -kInf, 0.0});
  // A NaN propagates from where it is, first or later (as PyTorch).
  expect_values(mg::logcumsumexp(tensor({0.0, kNaN, 1.0}), 0), {3}, {0.0, kNaN, kNaN});
  expect_values(mg::logcumsumexp(tensor({kNaN, 1.0}), 0), {2}, {kNaN, kNaN});
  expect_values(mg::logcumsumexp(tensor({{kNaN, 1.0}, {2.0, 3.0}}), 0), {2, 2},
                {kNaN, 1.0, kNaN, 3.0 + std::log1p(std::exp(-2.0))}, 1e-15);
  const Tensor f = mg::logcumsumexp(tensor({1.0f, 2.0f}), 0);
  EXPECT_EQ(f.dtype(), kFloat32);
}

TEST(Scan, LogcumsumexpGradientIsASoftmaxOfThePrefix) {
  // d out_j / d x_k = exp(x_k - out_j) for k <= j.
  const std::vector<double> x = {0.3, -0.7, 1.2};
  const Tensor g = grad_of([](const Tensor& v) { return mg::logcumsumexp(v, 0); }, tensor(x),
                           tensor({1.0, -2.0, 0.5}));
  const std::vector<double> out = mg::logcumsumexp(tensor(x), 0).to_vector<double>();
  const std::vector<double> w = {1.0, -2.0, 0.5};
  std::vector<double> expected(3, 0.0);
  for (int k = 0; k < 3; ++k)
    for (int j = k; j < 3; ++j) expected[k] += w[j] * std::exp(x[k] - out[j]);
  expect_values(g, {3}, expected, 1e-14);
}

TEST(Scan, ErrorsNameTheOp) {
  EXPECT_MG_ERROR(mg::logcumsumexp(tensor<int64_t>({1, 2}), 0), "logcumsumexp");
  EXPECT_MG_ERROR(mg::cumprod(zeros({2, 3}), 2), "cumprod");
  EXPECT_MG_ERROR(mg::cummax(zeros({2, 3}), -3), "cummax");
  EXPECT_MG_ERROR(mg::cummin(Tensor(), 0), "cummin");
}

}  // namespace
}  // namespace mixgrad
