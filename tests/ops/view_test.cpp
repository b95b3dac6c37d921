// Gradients of the view and copy ops (their forward values are covered in tests/core).
#include "common/test_util.h"

namespace mg = mixgrad;
using mg::Tensor;
using Inputs = std::vector<Tensor>;
using mg::testing::expect_values;
using mg::testing::grad_input;

TEST(ViewGrad, ViewAndReshape) {
  auto x = grad_input({2, 3});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return in[0].view({3, 2}) * mg::arange(6, mg::kFloat64).view({3, 2});
      },
      Inputs{x});
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return in[0].t().reshape({6}) * mg::arange(6, mg::kFloat64); },
      Inputs{x});
}

TEST(ViewGrad, PermuteAndTranspose) {
  auto x = grad_input({2, 3, 4});
  auto w = mg::randn({4, 2, 3}, mg::kFloat64);
  EXPECT_GRADCHECK([&](const Inputs& in) { return in[0].permute({2, 0, 1}) * w; }, Inputs{x});
  EXPECT_GRADCHECK([&](const Inputs& in) { return in[0].transpose(0, 2).sum({0}); }, Inputs{x});
}

TEST(ViewGrad, NarrowSliceSelectAccumulateIntoRegions) {
  auto x = grad_input({4, 5});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return (in[0].narrow(1, 1, 3) * 2).sum() + in[0].slice(1, 0, 5, 2).square().sum() +
               (in[0].select(0, 2) * in[0][-1]).sum();
      },
      Inputs{x});
  // Overlapping regions used several times add up.
  auto y = mg::tensor({1.0, 2.0, 3.0}).requires_grad_();
  (y.narrow(0, 0, 2).sum() + y.narrow(0, 1, 2).sum() * 10 + y[1] * 100).backward();
  expect_values(y.grad(), {3}, {1, 111, 10});
}

TEST(ViewGrad, ExpandSumsBroadcastDims) {
  auto x = grad_input({3, 1});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return in[0].expand({2, 3, 4}) * mg::arange(24, mg::kFloat64).view({2, 3, 4});
      },
      Inputs{x});
  auto y = mg::tensor({1.0}).requires_grad_();
  y.expand({5}).sum().backward();
  expect_values(y.grad(), {1}, {5});
}

TEST(ViewGrad, SqueezeUnsqueezeFlattenUnflatten) {
  auto x = grad_input({2, 1, 3});
  auto w = mg::randn({6}, mg::kFloat64);
  EXPECT_GRADCHECK([&](const Inputs& in) { return in[0].squeeze().flatten() * w; }, Inputs{x});
  EXPECT_GRADCHECK([&](const Inputs& in) { return in[0].unsqueeze(0).squeeze(2) * 3; }, Inputs{x});
  EXPECT_GRADCHECK(
      [&](const Inputs& in) {
        return in[0].flatten().unflatten(0, {3, 2}) * w.view({3, 2});
      },
      Inputs{x});
}

TEST(ViewGrad, CloneContiguousToAndCopy) {
  auto x = grad_input({2, 3});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].t().contiguous() * 2; }, Inputs{x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].clone() * in[0]; }, Inputs{x});
  // to(float32) and back: the gradient flows across dtypes.
  auto y = mg::tensor({1.0, 2.0}).requires_grad_();
  auto z = y.to(mg::kFloat32);
  EXPECT_EQ(z.dtype(), mg::kFloat32);
  (z * z).sum().backward();
  EXPECT_EQ(y.grad().dtype(), mg::kFloat64);
  expect_values(y.grad(), {2}, {2, 4});
  // copy_ into an intermediate passes the gradient to the source.
  auto src = mg::tensor({3.0, 4.0}).requires_grad_();
  auto dst = mg::zeros({2}, mg::kFloat64) * 1;
  dst.copy_(src * 2);
  dst.sum().backward();
  expect_values(src.grad(), {2}, {2, 2});
}

TEST(ViewGrad, AsStridedIsNotDifferentiable) {
  auto x = grad_input({4});
  EXPECT_MG_ERROR(x.as_strided({2}, {2}), "not differentiable");
  EXPECT_MG_ERROR(x.detach().as_strided({3}, {2}), "reach outside the storage");
  expect_values(mg::arange(6).as_strided({2, 2}, {3, 1}, 1), {2, 2}, {1, 2, 4, 5});
}
