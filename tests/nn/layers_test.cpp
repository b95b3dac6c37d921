#include <gtest/gtest.h>

#include <cmath>

#include "common/test_util.h"
#include "mixgrad.h"
#include "nn/nn.h"

namespace mixgrad::nn {
namespace {

using mixgrad::testing::expect_close;
using mixgrad::testing::expect_values;

void set(const Tensor& param, const Tensor& values) {
  NoGradGuard no_grad;
  param.detach().copy_(values);
}

TEST(Linear, ComputesXWtPlusBias) {
  Linear fc(2, 3);
  set(fc.weight, tensor({{1.f, 2.f}, {3.f, 4.f}, {5.f, 6.f}}));
  set(fc.bias, tensor({0.5f, -1.f, 0.f}));
  expect_values(fc(tensor({{1.f, 1.f}, {0.f, 2.f}})), {2, 3}, {3.5, 6, 11, 4.5, 7, 12});
  // Leading dims fold into rows.
  EXPECT_EQ(fc(zeros({4, 5, 2})).shape(), (Shape{4, 5, 3}));
  EXPECT_MG_ERROR(fc(zeros({4, 3})), "does not match weight");
  EXPECT_MG_ERROR(Linear(0, 3), "must be positive");
  EXPECT_EQ(fc.extra_repr(), "in_features=2, out_features=3, bias=true");
}

TEST(Linear, InitialisesUniformInInverseSqrtFanIn) {
  manual_seed(11);
  Linear fc(100, 200);
  const double bound = 0.1;
  for (const Tensor& p : {fc.weight, fc.bias}) {
    EXPECT_LE(p.abs().max().item<double>(), bound);
  }
  // 20,000 uniform draws: the mean is within 5 standard errors of 0.
  const double std_error = bound / std::sqrt(3.0) / std::sqrt(20000.0);
  EXPECT_LT(std::fabs(fc.weight.mean().item<double>()), 5 * std_error);
  EXPECT_GT(fc.weight.abs().max().item<double>(), 0.99 * bound);
}

TEST(Linear, OptionsPickTheDtype) {
  Linear fc(3, 2, false, kFloat64);
  EXPECT_EQ(fc.weight.dtype(), DType::Float64);
  EXPECT_FALSE(fc.bias.defined());
  EXPECT_EQ(fc.named_parameters().size(), 1u);
}

TEST(Sequential, ChainsItsModules) {
  auto fc = std::make_shared<Linear>(2, 2, false);
  set(fc->weight, tensor({{1.f, -1.f}, {-1.f, 1.f}}));
  Sequential seq(fc, std::make_shared<ReLU>());
  expect_values(seq(tensor({{3.f, 1.f}})), {1, 2}, {2, 0});
  seq.push_back(std::make_shared<Tanh>());
  EXPECT_EQ(seq.size(), 3u);
  expect_values(seq(tensor({{3.f, 1.f}})), {1, 2}, {std::tanh(2.0), 0}, 1e-7);
  EXPECT_EQ(seq.at<Linear>(0), fc);
  EXPECT_EQ(seq[-1]->type_name(), "Tanh");
  EXPECT_MG_ERROR(seq[3], "out of range");
  EXPECT_MG_ERROR(seq.at<Linear>(1), "is a ReLU");
  EXPECT_EQ(seq.named_parameters()[0].first, "0.weight");
}

TEST(ModuleDict, HoldsModulesByName) {
  ModuleDict dict;
  dict.insert("encoder", std::make_shared<Linear>(2, 3));
  dict.insert("act", std::make_shared<GELU>("tanh"));
  EXPECT_TRUE(dict.contains("act"));
  EXPECT_FALSE(dict.contains("decoder"));
  EXPECT_EQ(dict.size(), 2u);
  EXPECT_EQ(dict.at<Linear>("encoder")->out_features(), 3);
  EXPECT_EQ(dict.named_parameters()[1].first, "encoder.bias");
  EXPECT_MG_ERROR(dict["decoder"], "no module named 'decoder'");
  EXPECT_MG_ERROR(dict.insert("act", std::make_shared<ReLU>()), "already registered");
  std::vector<std::string> names;
  for (const auto& [name, module] : dict) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"encoder", "act"}));
}

TEST(Embedding, LooksUpRows) {
  Embedding emb(4, 2);
  set(emb.weight, tensor({{0.f, 1.f}, {2.f, 3.f}, {4.f, 5.f}, {6.f, 7.f}}));
  expect_values(emb(tensor({{3, 0}, {1, 1}}, kInt64)), {2, 2, 2}, {6, 7, 0, 1, 2, 3, 2, 3});
  EXPECT_MG_ERROR(emb(tensor({4}, kInt64)), "out of");
  EXPECT_EQ(emb.extra_repr(), "4, 2");
}

TEST(LayerNorm, NormalisesAndHasAffineParameters) {
  LayerNorm ln({2});
  expect_values(ln(tensor({{1.f, 3.f}})), {1, 2}, {-1, 1}, 1e-4);
  set(ln.weight, tensor({2.f, 2.f}));
  set(ln.bias, tensor({1.f, 0.f}));
  expect_values(ln(tensor({{1.f, 3.f}})), {1, 2}, {-1, 2}, 1e-4);
  EXPECT_EQ(ln.extra_repr(), "[2], eps=1e-05, elementwise_affine=true");
  LayerNorm plain({3}, 1e-5, false);
  EXPECT_TRUE(plain.parameters().empty());
  EXPECT_MG_ERROR(ln(zeros({2, 3})), "does not end in normalized_shape");
}

TEST(Activations, ForwardToTheirOps) {
  Tensor x = tensor({-2.0, -0.5, 0.0, 1.5}, kFloat64);
  struct Case {
    std::shared_ptr<Module> module;
    Tensor expected;
    std::string repr;
  };
  std::vector<Case> cases = {
      {std::make_shared<ReLU>(), relu(x), "ReLU()"},
      {std::make_shared<GELU>(), gelu(x), "GELU()"},
      {std::make_shared<GELU>("tanh"), gelu(x, "tanh"), "GELU(approximate=tanh)"},
      {std::make_shared<ELU>(0.5), elu(x, 0.5), "ELU(alpha=0.5)"},
      {std::make_shared<LeakyReLU>(0.2), leaky_relu(x, 0.2), "LeakyReLU(negative_slope=0.2)"},
      {std::make_shared<Tanh>(), tanh(x), "Tanh()"},
      {std::make_shared<Sigmoid>(), sigmoid(x), "Sigmoid()"},
      {std::make_shared<Softplus>(2.0, 10.0), softplus(x, 2.0, 10.0),
       "Softplus(beta=2, threshold=10)"},
      {std::make_shared<Identity>(), x, "Identity()"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.repr);
    expect_close((*c.module)(x), c.expected, 0, 0);
    EXPECT_EQ(c.module->to_string(), c.repr + "\n0 parameters");
  }
  expect_values(LeakyReLU(0.2)(x), {4}, {-0.4, -0.1, 0, 1.5}, 1e-15);
  EXPECT_MG_ERROR(GELU("fast"), "approximate must be");
}

TEST(Sequential, TrainsAnMlpEndToEnd) {
  manual_seed(5);
  Sequential mlp(std::make_shared<Linear>(1, 16), std::make_shared<Tanh>(),
                 std::make_shared<Linear>(16, 1));
  Tensor x = linspace(-1, 1, 32).unsqueeze(1);
  Tensor y = x * x;
  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    mlp.zero_grad();
    Tensor loss = mse_loss(mlp(x), y);
    loss.backward();
    NoGradGuard no_grad;
    for (const Tensor& p : mlp.parameters()) p.detach().sub_(p.grad(), 0.2);
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, 0.1 * first);
}

}  // namespace
}  // namespace mixgrad::nn
