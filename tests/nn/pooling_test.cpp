// Pooling modules and Flatten: forwards equal the ops, printouts, hooks, use inside Sequential.
#include "nn/pooling.h"

#include <gtest/gtest.h>

#include <memory>

#include "common/test_util.h"
#include "nn/nn.h"

namespace mixgrad::nn {
namespace {

using mixgrad::testing::expect_close;
using mixgrad::testing::expect_values;

Tensor sample(const Shape& shape) {
  Generator gen(5);
  return randn(shape, kFloat32, &gen);
}

TEST(PoolingModules, ForwardEqualsTheOpsAndPrintsTheirArguments) {
  Tensor x = sample({2, 3, 9, 8});
  struct Case {
    std::shared_ptr<Module> module;
    Tensor expected;
    std::string repr;
  };
  std::vector<Case> cases = {
      {std::make_shared<MaxPool2d>(2), max_pool2d(x, 2),
       "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=false)"},
      {std::make_shared<MaxPool2d>(
           SpatialSize<2>{3, 2},
           MaxPool2dOptions{.stride = {2, 1}, .padding = 1, .dilation = {1, 2}, .ceil_mode = true}),
       max_pool2d(x, {3, 2},
                  {.stride = {2, 1}, .padding = 1, .dilation = {1, 2}, .ceil_mode = true}),
       "MaxPool2d(kernel_size=(3, 2), stride=(2, 1), padding=1, dilation=(1, 2), ceil_mode=true)"},
      {std::make_shared<AvgPool2d>(3), avg_pool2d(x, 3),
       "AvgPool2d(kernel_size=3, stride=3, padding=0, ceil_mode=false, count_include_pad=true)"},
      {std::make_shared<AvgPool2d>(
           3,
           AvgPool2dOptions{
               .stride = 2, .padding = {1, 0}, .count_include_pad = false, .divisor_override = 4}),
       avg_pool2d(
           x, 3,
           {.stride = 2, .padding = {1, 0}, .count_include_pad = false, .divisor_override = 4}),
       "AvgPool2d(kernel_size=3, stride=2, padding=(1, 0), ceil_mode=false, "
       "count_include_pad=false, divisor_override=4)"},
      {std::make_shared<AdaptiveAvgPool2d>(SpatialSize<2>{4, 3}), adaptive_avg_pool2d(x, {4, 3}),
       "AdaptiveAvgPool2d(output_size=(4, 3))"},
      {std::make_shared<Flatten>(), x.reshape({2, 216}), "Flatten(start_dim=1, end_dim=-1)"},
      {std::make_shared<Flatten>(0, 1), x.reshape({6, 9, 8}), "Flatten(start_dim=0, end_dim=1)"},
      {std::make_shared<Flatten>(-2), x.reshape({2, 3, 72}), "Flatten(start_dim=-2, end_dim=-1)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.repr);
    expect_close((*c.module)(x), c.expected, 0, 0);
    EXPECT_EQ(c.module->to_string(), c.repr + "\n0 parameters");
    EXPECT_TRUE(c.module->buffers().empty());
  }
}

TEST(PoolingModules, HandComputedValues) {
  Tensor x = arange(1, 17, 1, kFloat32).reshape({1, 1, 4, 4});
  expect_values(MaxPool2d(2)(x), {1, 1, 2, 2}, {6, 8, 14, 16});
  expect_values(AvgPool2d(2)(x), {1, 1, 2, 2}, {3.5, 5.5, 11.5, 13.5});
  expect_values(AdaptiveAvgPool2d(1)(x), {1, 1, 1, 1}, {8.5});
  expect_values(Flatten()(x), {1, 16}, std::vector<double>(x.to_vector<double>()));
}

TEST(PoolingModules, MaxPoolReturnsIndicesOnRequest) {
  Tensor x = tensor({{4.f, 1.f, 0.f, 2.f}, {3.f, 2.f, 7.f, 5.f}}).reshape({1, 2, 4});
  auto [y, idx] = MaxPool2d(2).forward_with_indices(x);
  expect_values(y, {1, 1, 2}, {4, 7});
  expect_values(idx, {1, 1, 2}, {0, 6});
}

TEST(PoolingModules, ErrorsComeFromTheOpAtForward) {
  MaxPool2d bad_kernel(0);
  EXPECT_MG_ERROR(bad_kernel(zeros({1, 4, 4})), "max_pool2d: kernel_size must be positive");
  AvgPool2d avg(2);
  EXPECT_MG_ERROR(avg(zeros({4, 4})), "avg_pool2d: expected a 3-D");
  AdaptiveAvgPool2d adaptive(0);
  EXPECT_MG_ERROR(adaptive(zeros({1, 4, 4})), "output_size must be positive");
  Flatten flatten(0, 5);
  EXPECT_MG_ERROR(flatten(zeros({2, 3})), "flatten");
}

TEST(PoolingModules, ForwardHooksRun) {
  MaxPool2d pool(2);
  int calls = 0;
  pool.register_forward_hook([&](Module&, const std::vector<Tensor>& in, std::vector<Tensor>& out) {
    ++calls;
    EXPECT_EQ(in[0].shape(), (Shape{1, 4, 4}));
    out[0] = out[0] * 2;
  });
  expect_values(pool(arange(0, 16, 1, kFloat32).reshape({1, 4, 4})), {1, 2, 2}, {10, 14, 26, 30});
  EXPECT_EQ(calls, 1);
}

TEST(PoolingModules, SmallCnnTrainsThroughPoolingAndFlatten) {
  // Sequential(MaxPool2d, AvgPool2d, Flatten, Linear): gradients reach the Linear and the input.
  auto fc = std::make_shared<Linear>(4, 1);
  Sequential net(std::make_shared<MaxPool2d>(2), std::make_shared<AvgPool2d>(2),
                 std::make_shared<Flatten>(), fc);
  Tensor x = sample({3, 4, 4, 4}).requires_grad_();
  Tensor y = net(x);
  EXPECT_EQ(y.shape(), (Shape{3, 1}));
  y.sum().backward();
  ASSERT_TRUE(fc->weight.grad().defined());
  ASSERT_TRUE(x.grad().defined());
  // Each 2x2 max feeds one quarter of the 2x2 average of its channel: the kept positions get
  // that channel's weight / 4, the others nothing (4 of the 16 inputs of each channel).
  const std::vector<double> g = x.grad().to_vector<double>();
  const std::vector<double> w = fc->weight.to_vector<double>();
  int64_t nonzero = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (g[i] == 0) continue;
    ++nonzero;
    EXPECT_FLOAT_EQ(g[i], w[(i / 16) % 4] / 4) << "element " << i;
  }
  EXPECT_EQ(nonzero, 3 * 4 * 4);
}

}  // namespace
}  // namespace mixgrad::nn
