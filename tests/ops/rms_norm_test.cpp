// rms_norm: values against loops, the fused CPU path against the composite one (what CUDA runs),
// gradients, shapes and errors.
#include "ops/rms_norm.h"

#include <cmath>
#include <vector>

#include "common/test_util.h"

namespace mixgrad {
namespace {

using testing::expect_close;
using testing::expect_values;
using testing::grad_input;
using testing::seeded_randn;
using Inputs = std::vector<Tensor>;

// x / sqrt(mean(x^2) + eps) * w over the last dim, by loops in double.
std::vector<double> reference(const Tensor& x, const Tensor& weight, double eps) {
  const std::vector<double> v = x.to_vector<double>();
  const std::vector<double> w =
      weight.defined() ? weight.to_vector<double>() : std::vector<double>();
  const int64_t d = x.size(-1), rows = d == 0 ? 0 : x.numel() / d;
  std::vector<double> out(v.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < d; ++i) ss += v[r * d + i] * v[r * d + i];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(d) + eps);
    for (int64_t i = 0; i < d; ++i)
      out[r * d + i] = v[r * d + i] * inv * (weight.defined() ? w[i] : 1.0);
  }
  return out;
}

TEST(RmsNorm, MatchesLoopsWithAndWithoutWeight) {
  const Tensor x = seeded_randn({4, 7}, kFloat64, 1), w = seeded_randn({7}, kFloat64, 2);
  expect_values(rms_norm(x, w), {4, 7}, reference(x, w, 1e-6), 1e-14);
  expect_values(rms_norm(x), {4, 7}, reference(x, Tensor(), 1e-6), 1e-14);
  expect_values(rms_norm(x, w, 0.5), {4, 7}, reference(x, w, 0.5), 1e-14);
  // float32: the same within float rounding (the sums run in double).
  const Tensor x32 = x.to(kFloat32), w32 = w.to(kFloat32);
  const Tensor y32 = rms_norm(x32, w32);
  EXPECT_EQ(y32.dtype(), kFloat32);
  expect_values(y32, {4, 7}, reference(x32, w32, 1e-6), 1e-5);
}

TEST(RmsNorm, EveryRowHasUnitRootMeanSquareWithoutWeight) {
  const Tensor y = rms_norm(seeded_randn({5, 64}, kFloat64, 3) * 7.0, Tensor(), 0.0);
  expect_values(mean(square(y), {-1}), {5}, std::vector<double>(5, 1.0), 1e-12);
}

TEST(RmsNorm, LeadingDimsAndOneDimensionalInput) {
  const Tensor x = seeded_randn({2, 3, 4, 6}, kFloat64, 4), w = seeded_randn({6}, kFloat64, 5);
  expect_values(rms_norm(x, w), {2, 3, 4, 6}, reference(x, w, 1e-6), 1e-14);
  const Tensor v = seeded_randn({9}, kFloat64, 6);
  expect_values(rms_norm(v), {9}, reference(v, Tensor(), 1e-6), 1e-14);
}

TEST(RmsNorm, NonContiguousInputAndWeight) {
  const Tensor x = seeded_randn({6, 5}, kFloat64, 7).t();  // [5, 6], column-major
  const Tensor w = slice(seeded_randn({12}, kFloat64, 8), 0, 0, 12, 2);
  ASSERT_FALSE(x.is_contiguous());
  ASSERT_FALSE(w.is_contiguous());
  expect_values(rms_norm(x, w), {5, 6}, reference(x, w, 1e-6), 1e-14);
}

TEST(RmsNorm, EmptyInputs) {
  EXPECT_EQ(rms_norm(zeros({0, 4}), ones({4})).shape(), (Shape{0, 4}));
  EXPECT_EQ(rms_norm(zeros({3, 0})).shape(), (Shape{3, 0}));
  Tensor x = zeros({0, 4}, TensorOptions(kFloat64)).requires_grad_();
  Tensor w = ones({4}, TensorOptions(kFloat64)).requires_grad_();
  rms_norm(x, w).sum().backward();
  EXPECT_EQ(x.grad().shape(), (Shape{0, 4}));
  expect_values(w.grad(), {4}, {0, 0, 0, 0});
}

// The composite form (what devices without the fused kernels run) gives the same values and
// gradients, in both dtypes.
TEST(RmsNorm, FusedMatchesCompositeValuesAndGradients) {
  for (DType dtype : {kFloat32, kFloat64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const double tol = dtype == kFloat32 ? 2e-5 : 1e-12;
    const Tensor x0 = seeded_randn({3, 5, 33}, dtype, 9), w0 = seeded_randn({33}, dtype, 10);
    const Tensor g = seeded_randn({3, 5, 33}, dtype, 11);
    Tensor x1 = x0.clone().requires_grad_(), w1 = w0.clone().requires_grad_();
    Tensor x2 = x0.clone().requires_grad_(), w2 = w0.clone().requires_grad_();
    const Tensor fused = rms_norm(x1, w1, 1e-5), composite = rms_norm_reference(x2, w2, 1e-5);
    expect_close(fused, composite, tol, tol);
    (fused * g).sum().backward();
    (composite * g).sum().backward();
    expect_close(x1.grad(), x2.grad(), tol, tol);
    expect_close(w1.grad(), w2.grad(), 10 * tol, tol);
  }
}

TEST(RmsNorm, GradcheckInputAndWeight) {
  const Tensor x = grad_input({3, 2, 5}, 12), w = grad_input({5}, 13);
  EXPECT_GRADCHECK([](const Inputs& in) { return rms_norm(in[0], in[1], 1e-3); }, (Inputs{x, w}));
  EXPECT_GRADCHECK([](const Inputs& in) { return rms_norm(in[0]); }, (Inputs{x}));
  EXPECT_GRADCHECK([](const Inputs& in) { return rms_norm(in[0], in[1]); },
                   (Inputs{grad_input({7}, 14), grad_input({7}, 15)}));
  // A transposed input, and the composite form itself.
  EXPECT_GRADCHECK([](const Inputs& in) { return rms_norm(in[0].t(), in[1]); },
                   (Inputs{grad_input({4, 3}, 16), grad_input({4}, 17)}));
  EXPECT_GRADCHECK([](const Inputs& in) { return rms_norm_reference(in[0], in[1]); },
                   (Inputs{x, w}));
}

TEST(RmsNorm, GradientOfOneInputOnly) {
  const Tensor x0 = seeded_randn({4, 6}, kFloat64, 18), w0 = seeded_randn({6}, kFloat64, 19);
  Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_();
  rms_norm(x, w).square().sum().backward();
  Tensor xr = x0.clone().requires_grad_();
  rms_norm(xr, w0).square().sum().backward();
  expect_close(xr.grad(), x.grad(), 1e-12, 1e-12);
  Tensor wr = w0.clone().requires_grad_();
  rms_norm(x0, wr).square().sum().backward();
  expect_close(wr.grad(), w.grad(), 1e-12, 1e-12);
}

// A float64 gradient reaching a float32 rms_norm is converted to float32 first.
TEST(RmsNorm, GradientOfAnotherDtype) {
  const Tensor x0 = seeded_randn({3, 8}, kFloat32, 20), w0 = seeded_randn({8}, kFloat32, 21);
  const Tensor g = seeded_randn({3, 8}, kFloat64, 22);
  Tensor x1 = x0.clone().requires_grad_(), x2 = x0.clone().requires_grad_();
  (rms_norm(x1, w0).to(kFloat64) * g).sum().backward();
  (rms_norm(x2, w0) * g.to(kFloat32)).sum().backward();
  EXPECT_EQ(x1.grad().dtype(), kFloat32);
  expect_close(x1.grad(), x2.grad(), 1e-6, 1e-6);
}

// The weight gradient sums over many rows (several threads' partials): run to run it has the
// same bits, and it matches the composite form.
TEST(RmsNorm, WeightGradientOverManyRowsIsDeterministic) {
  const Tensor x0 = seeded_randn({4096, 64}, kFloat32, 23), w0 = seeded_randn({64}, kFloat32, 24);
  const Tensor g = seeded_randn({4096, 64}, kFloat32, 25);
  auto weight_grad = [&](bool fused) {
    Tensor w = w0.clone().requires_grad_();
    ((fused ? rms_norm(x0, w) : rms_norm_reference(x0, w)) * g).sum().backward();
    return w.grad();
  };
  const Tensor first = weight_grad(true);
  for (int run = 0; run < 3; ++run)
    EXPECT_EQ(weight_grad(true).to_vector<float>(), first.to_vector<float>());
  expect_close(first, weight_grad(false), 1e-3, 1e-4);
}

TEST(RmsNorm, SavedInputModifiedInPlaceIsCaught) {
  Tensor x = seeded_randn({2, 4}, kFloat64, 26).requires_grad_();
  Tensor y = x * 1.0;
  Tensor out = rms_norm(y);
  {
    NoGradGuard no_grad;  // with grad mode on, mul_ itself refuses
    y.mul_(tensor({2.0}, TensorOptions(kFloat64)));
  }
  EXPECT_MG_ERROR(out.sum().backward(), "modified by an in-place operation");
}

TEST(RmsNorm, RejectsBadArguments) {
  const Tensor x = seeded_randn({2, 4}, kFloat32, 27);
  for (auto fn : {&rms_norm, &rms_norm_reference}) {
    EXPECT_MG_ERROR(fn(Tensor(), Tensor(), 1e-6), "undefined");
    EXPECT_MG_ERROR(fn(tensor({1.0f})[0], Tensor(), 1e-6), "0-dim");
    EXPECT_MG_ERROR(fn(tensor<int32_t>({1, 2}), Tensor(), 1e-6), "floating");
    EXPECT_MG_ERROR(fn(x, Tensor(), -1.0), "eps must be non-negative");
    EXPECT_MG_ERROR(fn(x, Tensor(), NAN), "eps must be non-negative");
    EXPECT_MG_ERROR(fn(x, ones({3}), 1e-6), "weight of shape [3]");
    EXPECT_MG_ERROR(fn(x, ones({1, 4}), 1e-6), "expected [4]");
    EXPECT_MG_ERROR(fn(x, ones({4}, TensorOptions(kFloat64)), 1e-6), "weight has dtype float64");
  }
}

}  // namespace
}  // namespace mixgrad
