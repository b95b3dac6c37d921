#include "nn/conv.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/test_util.h"
#include "mixgrad.h"

namespace mixgrad::nn {
namespace {

using mixgrad::testing::expect_close;
using mixgrad::testing::expect_values;

Shape shape_of(const NamedTensors& tensors, const std::string& name) {
  for (const auto& [n, t] : tensors)
    if (n == name) return t.shape();
  ADD_FAILURE() << "no tensor named " << name;
  return {};
}

TEST(Conv2d, ShapesAndParameters) {
  Conv2d conv(3, 16, 3, {.stride = 2, .padding = 1});
  EXPECT_EQ(conv(zeros({4, 3, 32, 32})).shape(), (Shape{4, 16, 16, 16}));
  const NamedTensors params = conv.named_parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].first, "weight");
  EXPECT_EQ(params[1].first, "bias");
  EXPECT_EQ(shape_of(params, "weight"), (Shape{16, 3, 3, 3}));
  EXPECT_EQ(shape_of(params, "bias"), (Shape{16}));
  EXPECT_TRUE(conv.weight.requires_grad());

  Conv2d grouped(8, 4, {3, 5}, {.padding = mixgrad::Padding::Same, .groups = 2, .bias = false});
  EXPECT_EQ(grouped.weight.shape(), (Shape{4, 4, 3, 5}));
  EXPECT_FALSE(grouped.bias.defined());
  EXPECT_EQ(grouped.named_parameters().size(), 1u);
  EXPECT_EQ(grouped(zeros({2, 8, 7, 9})).shape(), (Shape{2, 4, 7, 9}));
  EXPECT_EQ(grouped.num_parameters(), 4 * 4 * 3 * 5);
}

TEST(Conv1d, ShapesAndParameters) {
  Conv1d conv(4, 6, 5, {.stride = 2, .dilation = 2, .groups = 2}, kFloat64);
  EXPECT_EQ(conv.weight.shape(), (Shape{6, 2, 5}));
  EXPECT_EQ(conv.bias.shape(), (Shape{6}));
  EXPECT_EQ(conv.weight.dtype(), DType::Float64);
  EXPECT_EQ(conv.bias.dtype(), DType::Float64);
  // (20 - 2 * 4 - 1) / 2 + 1 = 6
  EXPECT_EQ(conv(zeros({3, 4, 20}, kFloat64)).shape(), (Shape{3, 6, 6}));
  EXPECT_MG_ERROR(conv(zeros({3, 4, 20})), "conv1d");  // float32 input, float64 weight
  EXPECT_MG_ERROR(conv(zeros({3, 4, 5, 5}, kFloat64)), "expected input [N, C, L]");
}

TEST(Conv2d, ForwardIsTheOpWithTheModulesParameters) {
  manual_seed(3);
  Conv2d conv(2, 3, {2, 3}, {.stride = {1, 2}, .padding = {1, 0}, .dilation = {2, 1}});
  auto x = randn({2, 2, 6, 7});
  expect_close(
      conv(x),
      conv2d(x, conv.weight, conv.bias, {.stride = {1, 2}, .padding = {1, 0}, .dilation = {2, 1}}),
      0, 0);
  auto y = conv(x);
  y.sum().backward();
  EXPECT_EQ(conv.weight.grad().shape(), conv.weight.shape());
  // d sum / d bias = number of output positions per channel.
  expect_values(conv.bias.grad(), {3}, {2.0 * 6 * 3, 2.0 * 6 * 3, 2.0 * 6 * 3});
}

TEST(Conv2d, InitialisesUniformInInverseSqrtFanIn) {
  manual_seed(11);
  // fan_in = 32 / 4 * 5 * 5 = 200.
  Conv2d conv(32, 64, 5, {.groups = 4});
  const double bound = 1.0 / std::sqrt(200.0);
  for (const Tensor& p : {conv.weight, conv.bias}) {
    EXPECT_LE(p.abs().max().item<double>(), bound);
  }
  // 12,800 uniform draws: mean within 5 standard errors of 0, extremes near the bound.
  const double n = static_cast<double>(conv.weight.numel());
  EXPECT_LT(std::fabs(conv.weight.mean().item<double>()), 5 * bound / std::sqrt(3.0 * n));
  EXPECT_GT(conv.weight.abs().max().item<double>(), 0.99 * bound);
  // Variance of U(-b, b) is b^2 / 3.
  const double var = conv.weight.square().mean().item<double>();
  EXPECT_NEAR(var, bound * bound / 3, 0.05 * bound * bound / 3);

  Conv1d conv1(3, 2, 7);  // fan_in 21
  EXPECT_LE(conv1.weight.abs().max().item<double>(), 1.0 / std::sqrt(21.0));
  EXPECT_LE(conv1.bias.abs().max().item<double>(), 1.0 / std::sqrt(21.0));
}

TEST(Conv2d, StateDictRoundTrip) {
  manual_seed(1);
  Conv2d a(3, 4, 3, {.padding = 1});
  manual_seed(2);
  Conv2d b(3, 4, 3, {.padding = 1});
  auto x = randn({2, 3, 5, 5});
  b.load_state_dict(a.state_dict());
  expect_close(b(x), a(x), 0, 0);
  for (const auto& [name, t] : a.state_dict()) expect_close(b.find_tensor(name), t, 0, 0);
  Conv2d no_bias(3, 4, 3, {.bias = false});
  EXPECT_MG_ERROR(no_bias.load_state_dict(a.state_dict()), "bias");
  Conv2d wider(3, 5, 3);
  EXPECT_MG_ERROR(wider.load_state_dict(a.state_dict()), "weight");

  Conv1d c(2, 2, 3);
  Conv1d d(2, 2, 3);
  d.load_state_dict(c.state_dict());
  expect_close(d.weight, c.weight, 0, 0);
}

TEST(Conv2d, Printout) {
  EXPECT_EQ(Conv2d(3, 16, 3).extra_repr(), "3, 16, kernel_size=(3, 3), stride=(1, 1)");
  EXPECT_EQ(Conv2d(8, 8, {3, 1},
                   {.stride = {2, 1}, .padding = {1, 0}, .dilation = 2, .groups = 8, .bias = false})
                .extra_repr(),
            "8, 8, kernel_size=(3, 1), stride=(2, 1), padding=(1, 0), dilation=(2, 2), "
            "groups=8, bias=false");
  EXPECT_EQ(Conv1d(2, 4, 5, {.padding = mixgrad::Padding::Same}).extra_repr(),
            "2, 4, kernel_size=(5,), stride=(1,), padding=same");
  Conv1d conv(2, 4, 3, {.padding = mixgrad::Padding::Valid});
  EXPECT_EQ(conv.type_name(), "Conv1d");
  const std::string printed = conv.to_string();
  EXPECT_NE(printed.find("Conv1d(2, 4, kernel_size=(3,), stride=(1,), padding=valid)"),
            std::string::npos)
      << printed;
}

TEST(Conv2d, ConstructorErrors) {
  EXPECT_MG_ERROR(Conv2d(0, 4, 3), "Conv2d: channels must be positive");
  EXPECT_MG_ERROR(Conv2d(4, 4, 0), "kernel_size must be positive, got (0, 0)");
  EXPECT_MG_ERROR(Conv2d(4, 4, {3, -1}), "kernel_size must be positive, got (3, -1)");
  EXPECT_MG_ERROR(Conv2d(4, 6, 3, {.groups = 4}), "groups 4 must divide");
  EXPECT_MG_ERROR(Conv2d(4, 4, 3, {.groups = 0}), "groups must be positive");
  EXPECT_MG_ERROR(Conv2d(4, 4, 3, {.stride = 2, .padding = mixgrad::Padding::Same}),
                  "padding Same needs stride 1");
  EXPECT_MG_ERROR(Conv1d(4, 4, 3, {.groups = 3}), "Conv1d: groups 3 must divide");
}

}  // namespace
}  // namespace mixgrad::nn
