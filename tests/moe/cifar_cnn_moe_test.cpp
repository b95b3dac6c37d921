#include "models/cifar_cnn_moe.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "core/grad_mode.h"
#include "mixgrad.h"
#include "models/custom_experts.h"
#include "models/top_k_gate.h"

namespace mg = mixgrad;
using mg::Tensor;
using mg::models::CifarCnnMoE;
using mg::testing::expect_close;

namespace {

std::vector<std::string> names(const mg::NamedTensors& tensors) {
  std::vector<std::string> out;
  for (const auto& [name, t] : tensors) out.push_back(name);
  return out;
}

}  // namespace

TEST(CifarCnnMoE, LayersAndParameterNames) {
  CifarCnnMoE model;
  std::vector<std::string> expected = {"conv1.weight", "conv1.bias", "conv2.weight",
                                       "conv2.bias",   "fc1.weight", "fc1.bias",
                                       "fc2.weight",   "fc2.bias",   "moe.gate.weight"};
  for (int e = 0; e < 8; ++e) {
    expected.push_back("moe.experts." + std::to_string(e) + ".weight");
    expected.push_back("moe.experts." + std::to_string(e) + ".bias");
  }
  expected.insert(expected.end(), {"fc3.weight", "fc3.bias"});
  EXPECT_EQ(names(model.named_parameters()), expected);
  EXPECT_EQ(model.conv1->weight.shape(), (mg::Shape{6, 3, 5, 5}));
  EXPECT_EQ(model.conv2->weight.shape(), (mg::Shape{16, 6, 5, 5}));
  EXPECT_EQ(model.fc1->weight.shape(), (mg::Shape{120, 400}));
  EXPECT_EQ(model.moe->gate->num_experts(), 8);
  EXPECT_EQ(model.moe->options().k, 1);
  EXPECT_TRUE(model.moe->options().dropless);
  EXPECT_EQ(model.fc3->weight.shape(), (mg::Shape{10, 84}));
  // 6*75+6 + 16*150+16 + 400*120+120 + 120*84+84 + 84*8 + 8*(84*84+84) + 84*10+10
  EXPECT_EQ(model.num_parameters(), 456 + 2416 + 48120 + 10164 + 672 + 57120 + 850);
}

// The network written out with the ops, and the top-1 MoE layer and its Switch loss by plain
// loops over the tokens, on the model's own float64 parameters.
TEST(CifarCnnMoE, EqualsTheNetworkWrittenOut) {
  mg::manual_seed(3);
  CifarCnnMoE model(mg::kFloat64);
  mg::Generator gen(4);
  const Tensor x = mg::randn({6, 3, 32, 32}, mg::kFloat64, &gen);
  const mg::models::MoEOutput out = model(x);
  ASSERT_EQ(out.output.shape(), (mg::Shape{6, 10}));

  Tensor h = mg::max_pool2d(mg::relu(mg::conv2d(x, model.conv1->weight, model.conv1->bias)), 2);
  h = mg::max_pool2d(mg::relu(mg::conv2d(h, model.conv2->weight, model.conv2->bias)), 2);
  h = h.reshape({6, 400});
  h = mg::relu(mg::linear(mg::relu(mg::linear(h, model.fc1->weight, model.fc1->bias)),
                          model.fc2->weight, model.fc2->bias));
  const auto& gate = dynamic_cast<mg::models::TopKGate&>(*model.moe->gate);
  const auto& experts = dynamic_cast<mg::models::ExpertList&>(*model.moe->experts);
  const Tensor probs = mg::softmax(mg::linear(h, gate.weight), 1);
  const std::vector<double> p = probs.to_vector<double>();
  std::vector<double> fraction(8, 0.0), mean_prob(8, 0.0);
  std::vector<int64_t> counts(8, 0);
  std::vector<Tensor> rows;
  for (int64_t t = 0; t < 6; ++t) {
    int64_t best = 0;
    for (int64_t e = 0; e < 8; ++e) {
      mean_prob[e] += p[t * 8 + e] / 6.0;
      if (p[t * 8 + e] > p[t * 8 + best]) best = e;
    }
    fraction[best] += 1.0 / 6.0;
    ++counts[best];
    // k = 1: the renormalised gate value is 1.
    const auto& expert = dynamic_cast<mg::nn::Linear&>(*experts[best]);
    rows.push_back(mg::linear(h.narrow(0, t, 1), expert.weight, expert.bias));
  }
  const Tensor logits = mg::linear(mg::cat(rows, 0), model.fc3->weight, model.fc3->bias);
  expect_close(out.output, logits, 1e-12, 1e-12);
  double switch_loss = 0;
  for (int64_t e = 0; e < 8; ++e) switch_loss += fraction[e] * mean_prob[e];
  EXPECT_NEAR(out.aux_loss.item<double>(), 0.01 * 8 * switch_loss, 1e-14);
  EXPECT_EQ(out.tokens_per_expert.to_vector<int64_t>(), counts);
  EXPECT_EQ(out.dropped, 0);
}

// Backward of cross-entropy + aux reaches every parameter, the router included (through the
// Switch loss alone: with k = 1 the gate value is 1 whatever the logits).
TEST(CifarCnnMoE, BackwardReachesEveryParameter) {
  mg::manual_seed(5);
  CifarCnnMoE model;
  mg::Generator gen(6);
  // 64 images so that, with high probability, several experts receive rows; an expert that got
  // none has no gradient and is left out of the check.
  const Tensor x = mg::randn({64, 3, 32, 32}, {}, &gen);
  const Tensor labels = mg::randint(0, 10, {64}, mg::kInt64, &gen);
  const auto out = model(x);
  (mg::cross_entropy(out.output, labels) + out.aux_loss).backward();
  const std::vector<int64_t> counts = out.tokens_per_expert.to_vector<int64_t>();
  EXPECT_GE(std::count_if(counts.begin(), counts.end(), [](int64_t c) { return c > 0; }), 2);
  for (const auto& [name, p] : model.named_parameters()) {
    SCOPED_TRACE(name);
    const bool idle_expert =
        name.starts_with("moe.experts.") && counts[std::stoi(name.substr(12))] == 0;
    ASSERT_EQ(p.grad().defined() && mg::max(mg::abs(p.grad())).item<float>() > 0, !idle_expert);
  }
}

TEST(CifarCnnMoE, RejectsImagesOfAnotherShape) {
  CifarCnnMoE model;
  EXPECT_THROW(model(mg::randn({2, 1, 32, 32})), mg::Error);
  EXPECT_THROW(model(mg::randn({2, 3, 28, 28})), mg::Error);
}
