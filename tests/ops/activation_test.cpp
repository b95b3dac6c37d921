// Activations: values against their textbook formulas, parameters, errors and gradients.
#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "common/test_util.h"

namespace mixgrad {
namespace {

using testing::expect_values;
using testing::grad_input;

using testing::NamedOp;
using testing::UnaryFn;

// Chosen points, none at an activation's kink at 0 (gradcheck uses them too).
const std::vector<double> kPoints{-3.0, -1.2, -0.25, 0.3, 1.1, 2.5};

// op(kPoints) equals ref(kPoints) computed here with <cmath>.
void expect_formula(const UnaryFn& op, const std::function<double(double)>& ref,
                    double tol = 1e-12) {
  std::vector<double> expected;
  for (double x : kPoints) expected.push_back(ref(x));
  expect_values(op(tensor(kPoints)), {static_cast<int64_t>(kPoints.size())}, expected, tol);
}

void expect_gradcheck_at(const UnaryFn& op, const std::vector<double>& values = kPoints) {
  Tensor x = tensor(values).requires_grad_();
  auto fn = [&op](const std::vector<Tensor>& in) { return op(in[0]); };
  std::vector<Tensor> inputs{x};
  EXPECT_GRADCHECK(fn, inputs);
}

double sigmoid_ref(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

TEST(Activations, ReluIsExactAndKeepsIntegerDtype) {
  expect_values(mg::relu(tensor({-2.0, -0.0, 0.0, 0.5, 3.0})), {5}, {0.0, 0.0, 0.0, 0.5, 3.0});
  Tensor i = mg::relu(tensor<int32_t>({-4, 0, 7}));
  EXPECT_EQ(i.dtype(), kInt32);
  expect_values(i, {3}, {0, 0, 7});
  expect_values(tensor({-1.0f, 2.0f}).relu(), {2}, {0.0, 2.0});
}

TEST(Activations, ReluGradientIsStepFunction) {
  Tensor x = tensor({-2.0, -0.5, 0.5, 3.0}).requires_grad_();
  (mg::relu(x) * tensor({1.0, 2.0, 3.0, 4.0})).sum().backward();
  expect_values(x.grad(), {4}, {0.0, 0.0, 3.0, 4.0});
}

TEST(Activations, GeluExactUsesErf) {
  expect_formula([](const Tensor& x) { return mg::gelu(x); },
                 [](double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); });
  expect_formula([](const Tensor& x) { return mg::gelu(x, "none"); },
                 [](double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); });
}

// float32 GELU evaluates erf and exp with vectorizable approximations (backends/fast_math.h):
// value and derivative stay within float rounding of the float64 formula over the whole range,
// tails and tiny inputs included, and NaN / infinities behave as the formula does.
TEST(Activations, GeluFloat32MatchesTheExactFormula) {
  std::vector<double> points;
  for (double x = -12.0; x <= 12.0; x += 0.00731) points.push_back(x);
  for (double x : {1e-30, -1e-30, 1e-7, -1e-7, 1e-3, -1e-3, 0.0}) points.push_back(x);
  const Tensor x32 = tensor(points).to(kFloat32).requires_grad_();
  const Tensor y32 = mg::gelu(x32);
  y32.sum().backward();
  const auto values = y32.to_vector<double>(), slopes = x32.grad().to_vector<double>();
  for (std::size_t i = 0; i < points.size(); ++i) {
    const double x = static_cast<double>(static_cast<float>(points[i]));
    const double cdf = 0.5 * (1.0 + std::erf(x / std::sqrt(2.0)));
    const double pdf = std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI);
    EXPECT_NEAR(values[i], x * cdf, 2e-7 * std::max(1.0, std::abs(x))) << "x = " << x;
    EXPECT_NEAR(slopes[i], cdf + x * pdf, 4e-7) << "x = " << x;
  }
  const auto special = mg::gelu(tensor({NAN, INFINITY}).to(kFloat32)).to_vector<float>();
  EXPECT_TRUE(std::isnan(special[0]));
  EXPECT_EQ(special[1], INFINITY);
}

TEST(Activations, GeluTanhApproximation) {
  expect_formula([](const Tensor& x) { return mg::gelu(x, "tanh"); },
                 [](double x) {
                   const double k = std::sqrt(2.0 / M_PI);
                   return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
                 });
  // The two forms differ, but by little: the approximation is not silently the exact form.
  Tensor x = tensor({1.5});
  const double exact = mg::gelu(x).item<double>();
  const double approx = mg::gelu(x, "tanh").item<double>();
  EXPECT_NE(exact, approx);
  EXPECT_NEAR(exact, approx, 1e-3);
}

TEST(Activations, GeluRejectsUnknownApproximation) {
  EXPECT_MG_ERROR(mg::gelu(tensor({1.0}), "fast"), "approximate must be");
  EXPECT_MG_ERROR(mg::gelu(tensor({1.0}), "Tanh"), "\"Tanh\"");
}

TEST(Activations, EluWithDefaultAndCustomAlpha) {
  expect_formula([](const Tensor& x) { return mg::elu(x); },
                 [](double x) { return x > 0 ? x : std::expm1(x); });
  expect_formula([](const Tensor& x) { return mg::elu(x, 0.5); },
                 [](double x) { return x > 0 ? x : 0.5 * std::expm1(x); });
  expect_values(mg::elu(tensor({0.0})), {1}, {0.0});
}

TEST(Activations, LeakyReluWithDefaultAndCustomSlope) {
  expect_formula([](const Tensor& x) { return mg::leaky_relu(x); },
                 [](double x) { return x > 0 ? x : 0.01 * x; }, 0.0);
  expect_values(mg::leaky_relu(tensor({-4.0, 0.0, 2.0}), 0.25), {3}, {-1.0, 0.0, 2.0});
}

TEST(Activations, SigmoidAndTanhMatchCmath) {
  expect_formula([](const Tensor& x) { return mg::sigmoid(x); }, sigmoid_ref);
  expect_formula([](const Tensor& x) { return mg::tanh(x); },
                 [](double x) { return std::tanh(x); });
  expect_values(mg::sigmoid(tensor({0.0})), {1}, {0.5});
}

TEST(Activations, SigmoidSaturatesWithoutNaN) {
  expect_values(mg::sigmoid(tensor({-1000.0, 1000.0})), {2}, {0.0, 1.0});
  expect_values(mg::sigmoid(tensor({-200.0f, 200.0f})), {2}, {0.0, 1.0});
  expect_values(mg::tanh(tensor({-1000.0, 1000.0})), {2}, {-1.0, 1.0});
}

TEST(Activations, SoftplusWithBeta) {
  expect_formula([](const Tensor& x) { return mg::softplus(x); },
                 [](double x) { return std::log1p(std::exp(x)); });
  expect_formula([](const Tensor& x) { return mg::softplus(x, 2.0); },
                 [](double x) { return std::log1p(std::exp(2.0 * x)) / 2.0; });
}

TEST(Activations, SoftplusIsLinearAboveThreshold) {
  // Default threshold 20: beta*x = 30 is returned as x itself.
  expect_values(mg::softplus(tensor({30.0, 1000.0})), {2}, {30.0, 1000.0});
  // beta 2, threshold 1: beta*x = 2 > 1 is linear; beta*x = 0.5 uses the formula.
  expect_values(mg::softplus(tensor({1.0, 0.25}), 2.0, 1.0), {2},
                {1.0, std::log1p(std::exp(0.5)) / 2.0}, 1e-15);
}

TEST(Activations, SoftplusRejectsNonPositiveBeta) {
  EXPECT_MG_ERROR(mg::softplus(tensor({1.0}), 0.0), "beta must be positive");
  EXPECT_MG_ERROR(mg::softplus(tensor({1.0}), -1.0), "softplus");
}

TEST(Activations, SiluIsInputTimesSigmoid) {
  expect_formula([](const Tensor& x) { return mg::silu(x); },
                 [](double x) { return x * sigmoid_ref(x); });
}

TEST(Activations, IntegerInputsBecomeDefaultFloat) {
  Tensor x = tensor<int32_t>({-1, 0, 2});
  for (const NamedOp& op : std::vector<NamedOp>{
           {"gelu", [](const Tensor& v) { return mg::gelu(v); }},
           {"elu", [](const Tensor& v) { return mg::elu(v); }},
           {"leaky_relu", [](const Tensor& v) { return mg::leaky_relu(v); }},
           {"sigmoid", [](const Tensor& v) { return mg::sigmoid(v); }},
           {"tanh", [](const Tensor& v) { return mg::tanh(v); }},
           {"softplus", [](const Tensor& v) { return mg::softplus(v); }},
           {"silu", [](const Tensor& v) { return mg::silu(v); }},
       }) {
    EXPECT_EQ(op.fn(x).dtype(), kFloat32) << op.name;
  }
  expect_values(mg::sigmoid(x), {3}, {sigmoid_ref(-1), 0.5, sigmoid_ref(2)}, 1e-6);
}

TEST(Activations, WorkOnNonContiguousAndEmptyInputs) {
  Tensor m = tensor({{-1.0, 2.0}, {3.0, -4.0}});
  expect_values(mg::leaky_relu(m.t(), 0.5), {2, 2}, {-0.5, 3.0, 2.0, -2.0});
  expect_values(mg::relu(tensor({-1.0, 5.0}).unsqueeze(0).expand({3, 2})), {3, 2},
                {0, 5, 0, 5, 0, 5});
  EXPECT_EQ(mg::gelu(zeros({0, 3})).shape(), (Shape{0, 3}));
}

// ---------------------------------------------------------------- gradients

TEST(Activations, GradcheckGeluBothForms) {
  expect_gradcheck_at([](const Tensor& x) { return mg::gelu(x); });
  expect_gradcheck_at([](const Tensor& x) { return mg::gelu(x, "tanh"); });
  // Smooth at 0, so 0 itself is fair game.
  expect_gradcheck_at([](const Tensor& x) { return mg::gelu(x); }, {0.0});
  expect_gradcheck_at([](const Tensor& x) { return mg::gelu(x, "tanh"); }, {0.0});
}

TEST(Activations, GradcheckEluWithAlpha) {
  expect_gradcheck_at([](const Tensor& x) { return mg::elu(x); });
  expect_gradcheck_at([](const Tensor& x) { return mg::elu(x, 0.5); });
  expect_gradcheck_at([](const Tensor& x) { return mg::elu(x, 2.0); });
}

TEST(Activations, GradcheckLeakyReluWithSlope) {
  expect_gradcheck_at([](const Tensor& x) { return mg::leaky_relu(x); });
  expect_gradcheck_at([](const Tensor& x) { return mg::leaky_relu(x, 0.3); });
}

TEST(Activations, GradcheckSoftplusBothBranches) {
  expect_gradcheck_at([](const Tensor& x) { return mg::softplus(x); });
  expect_gradcheck_at([](const Tensor& x) { return mg::softplus(x, 2.0); });
  // threshold 1 with beta 2: points above 0.5 are on the linear branch (gradient 1).
  expect_gradcheck_at([](const Tensor& x) { return mg::softplus(x, 2.0, 1.0); });
}

TEST(Activations, SoftplusGradientOnLinearBranchIsOne) {
  Tensor x = tensor({25.0, 0.0}).requires_grad_();
  mg::softplus(x).sum().backward();
  expect_values(x.grad(), {2}, {1.0, 0.5});
}

// ---------------------------------------------------------------- silu and swiglu

double silu_ref(double x) {
  return x * sigmoid_ref(x);
}
double silu_slope_ref(double x) {
  const double s = sigmoid_ref(x);
  return s * (1.0 + x * (1.0 - s));
}

// float32 SiLU, forward and fused backward, stays within float rounding of the float64 formula
// over the whole range, tails and tiny inputs included.
TEST(Activations, SiluFloat32MatchesTheExactFormula) {
  std::vector<double> points;
  for (double x = -100.0; x <= 100.0; x += 0.0173) points.push_back(x);
  for (double x : {1e-30, -1e-30, 1e-7, -1e-7, 0.0, -87.5, -88.5, 86.9, 87.5, 88.5}) {
    points.push_back(x);
  }
  const Tensor x32 = tensor(points).to(kFloat32).requires_grad_();
  const Tensor y32 = mg::silu(x32);
  y32.sum().backward();
  const auto values = y32.to_vector<double>(), slopes = x32.grad().to_vector<double>();
  for (std::size_t i = 0; i < points.size(); ++i) {
    const double x = static_cast<double>(static_cast<float>(points[i]));
    EXPECT_NEAR(values[i], silu_ref(x), 3e-7 * std::max(1.0, std::abs(x))) << "x = " << x;
    // The slope s (1 + x (1 - s)) takes 1 - s by cancellation, off by up to x ulp(1) / 2 for
    // large x until x e^-x is too small to matter (as in PyTorch's float kernel).
    EXPECT_NEAR(slopes[i], silu_slope_ref(x), 1.2e-6) << "x = " << x;
  }
}

TEST(Activations, SiluAtHugeAndSpecialInputs) {
  for (DType dtype : {kFloat32, kFloat64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor x = tensor({-1e30, -1000.0, 1000.0, 1e30}).to(dtype).requires_grad_();
    const Tensor y = mg::silu(x);
    const auto xs = x.to_vector<double>(), ys = y.to_vector<double>();
    EXPECT_EQ(ys, (std::vector<double>{0.0, 0.0, 1000.0, xs[3]}));
    y.sum().backward();
    expect_values(x.grad(), {4}, {0.0, 0.0, 1.0, 1.0});
    const auto special = mg::silu(tensor({NAN, INFINITY}).to(dtype)).to_vector<double>();
    EXPECT_TRUE(std::isnan(special[0]));
    EXPECT_EQ(special[1], INFINITY);
  }
}

// One graph node each, straight to the leaf, whose backward is the fused kernel.
TEST(Activations, SiluAndSwigluAreOneRecordedOpEach) {
  Tensor x = tensor({-2.0, 0.5, 3.0, 1.5}).requires_grad_();
  for (const NamedOp& op : std::vector<NamedOp>{
           {"silu", [](const Tensor& v) { return mg::silu(v); }},
           {"swiglu", [](const Tensor& v) { return mg::swiglu(v); }},
       }) {
    const Tensor y = op.fn(x);
    ASSERT_TRUE(y.grad_fn());
    EXPECT_EQ(y.grad_fn()->name(), op.name);
    ASSERT_EQ(y.grad_fn()->next_edges().size(), 1u);
    EXPECT_TRUE(dynamic_cast<AccumulateGrad*>(y.grad_fn()->next_edges()[0].node.get()));
  }
  mg::silu(x).sum().backward();
  std::vector<double> expected;
  for (double v : {-2.0, 0.5, 3.0, 1.5}) expected.push_back(silu_slope_ref(v));
  expect_values(x.grad(), {4}, expected, 1e-15);
}

// silu(a) * b with a, b the halves of x's last dim, by loops.
std::vector<double> swiglu_ref(const Tensor& x) {
  const std::vector<double> v = x.to_vector<double>();
  const int64_t width = x.size(-1), n = width / 2, rows = x.numel() / width;
  std::vector<double> out;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i)
      out.push_back(silu_ref(v[r * width + i]) * v[r * width + n + i]);
  return out;
}

Tensor swiglu_composite(const Tensor& x) {
  const int64_t n = x.size(-1) / 2;
  return mg::silu(mg::narrow(x, -1, 0, n)) * mg::narrow(x, -1, n, n);
}

TEST(Activations, SwigluGatesTheSecondHalfWithSiluOfTheFirst) {
  const Tensor x = grad_input({3, 8}, 21).detach();
  expect_values(mg::swiglu(x), {3, 4}, swiglu_ref(x), 1e-14);
  // Leading dims, a 1-D input, a transposed input.
  const Tensor x4 = grad_input({2, 3, 2, 6}, 22).detach();
  expect_values(mg::swiglu(x4), {2, 3, 2, 3}, swiglu_ref(x4), 1e-14);
  expect_values(mg::swiglu(tensor({0.5, -1.5, 2.0, 4.0})), {2},
                {silu_ref(0.5) * 2.0, silu_ref(-1.5) * 4.0}, 1e-15);
  const Tensor xt = grad_input({6, 3}, 23).detach().t();
  ASSERT_FALSE(xt.is_contiguous());
  expect_values(mg::swiglu(xt), {3, 3}, swiglu_ref(xt.contiguous()), 1e-14);
  // float32, and integers computed in the default float.
  expect_values(mg::swiglu(x.to(kFloat32)), {3, 4}, swiglu_ref(x.to(kFloat32)), 2e-6);
  EXPECT_EQ(mg::swiglu(tensor<int32_t>({1, 2})).dtype(), kFloat32);
  EXPECT_EQ(mg::swiglu(zeros({4, 0})).shape(), (Shape{4, 0}));
}

TEST(Activations, SwigluMatchesCompositeValuesAndGradients) {
  for (DType dtype : {kFloat32, kFloat64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const double tol = dtype == kFloat32 ? 1e-6 : 1e-14;
    const Tensor x0 = grad_input({4, 5, 10}, 24).detach().to(dtype);
    const Tensor g = grad_input({4, 5, 5}, 25).detach().to(dtype);
    Tensor x1 = x0.clone().requires_grad_(), x2 = x0.clone().requires_grad_();
    const Tensor fused = mg::swiglu(x1), composite = swiglu_composite(x2);
    testing::expect_close(fused, composite, tol, tol);
    (fused * g).sum().backward();
    (composite * g).sum().backward();
    testing::expect_close(x1.grad(), x2.grad(), tol, tol);
  }
}

TEST(Activations, GradcheckSwiglu) {
  auto fn = [](const std::vector<Tensor>& in) { return mg::swiglu(in[0]); };
  EXPECT_GRADCHECK(fn, (std::vector<Tensor>{grad_input({3, 6}, 26)}));
  EXPECT_GRADCHECK(fn, (std::vector<Tensor>{grad_input({2, 2, 4}, 27)}));
  EXPECT_GRADCHECK(fn, (std::vector<Tensor>{grad_input({2}, 28)}));
  auto transposed = [](const std::vector<Tensor>& in) { return mg::swiglu(in[0].t()); };
  EXPECT_GRADCHECK(transposed, (std::vector<Tensor>{grad_input({4, 3}, 29)}));
}

TEST(Activations, SwigluRejectsBadShapes) {
  EXPECT_MG_ERROR(mg::swiglu(Tensor()), "undefined");
  EXPECT_MG_ERROR(mg::swiglu(tensor({1.0})[0]), "0-dim");
  EXPECT_MG_ERROR(mg::swiglu(zeros({2, 5})), "must be even, got shape [2, 5]");
  EXPECT_MG_ERROR(mg::swiglu(zeros({1})), "must be even");
}

}  // namespace
}  // namespace mixgrad
