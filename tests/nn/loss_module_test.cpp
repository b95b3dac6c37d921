#include <gtest/gtest.h>

#include "common/test_util.h"
#include "mixgrad.h"
#include "nn/nn.h"

namespace mixgrad::nn {
namespace {

using mixgrad::testing::expect_close;
using mixgrad::testing::expect_values;

TEST(LossModules, MatchTheirFunctionals) {
  Generator gen(4);
  Tensor x = randn({3, 4}, kFloat64, &gen);
  Tensor y = randn({3, 4}, kFloat64, &gen);
  Tensor probs = rand({3, 4}, kFloat64, &gen);
  Tensor classes = tensor({2, 0, 3}, kInt64);
  Tensor pos_weight = tensor({1.0, 2.0, 0.5, 3.0}, kFloat64);
  expect_close(MSELoss()(x, y), mse_loss(x, y), 0, 0);
  expect_close(MSELoss(Reduction::Sum)(x, y), mse_loss(x, y, Reduction::Sum), 0, 0);
  expect_close(L1Loss(Reduction::None)(x, y), l1_loss(x, y, Reduction::None), 0, 0);
  expect_close(SmoothL1Loss(Reduction::Mean, 0.5)(x, y), smooth_l1_loss(x, y, Reduction::Mean, 0.5),
               0, 0);
  expect_close(CrossEntropyLoss(Reduction::Mean, 0.1)(x, classes),
               cross_entropy(x, classes, Reduction::Mean, 0.1), 0, 0);
  expect_close(NLLLoss()(log_softmax(x, 1), classes), nll_loss(log_softmax(x, 1), classes), 0, 0);
  expect_close(BCEWithLogitsLoss(Reduction::Mean, pos_weight)(x, probs),
               binary_cross_entropy_with_logits(x, probs, Reduction::Mean, Tensor(), pos_weight), 0,
               0);
}

TEST(LossModules, HandComputedValues) {
  Tensor input = tensor({0.f, 2.f, -1.f});
  Tensor target = tensor({0.5f, 0.f, -1.f});
  // d = [-0.5, 2, 0]: mse = (0.25 + 4 + 0) / 3, smooth L1 (beta 1) = (0.125 + 1.5 + 0) / 3.
  expect_values(MSELoss()(input, target), {}, {4.25 / 3}, 1e-7);
  expect_values(SmoothL1Loss(Reduction::Sum)(input, target), {}, {1.625});
  expect_values(L1Loss(Reduction::None)(input, target), {3}, {0.5, 2, 0});
}

TEST(LossModules, PrintTheirOptionsAndRunHooks) {
  EXPECT_EQ(MSELoss().to_string(), "MSELoss()\n0 parameters");
  EXPECT_EQ(SmoothL1Loss(Reduction::Sum, 0.5).to_string(),
            "SmoothL1Loss(reduction=sum, beta=0.5)\n0 parameters");
  EXPECT_EQ(CrossEntropyLoss(Reduction::Mean, 0.1).to_string(),
            "CrossEntropyLoss(label_smoothing=0.1)\n0 parameters");
  BCEWithLogitsLoss bce(Reduction::None, tensor({2.f}));
  EXPECT_EQ(bce.to_string(),
            "BCEWithLogitsLoss(reduction=none) {pos_weight: float32[1] (buffer)}\n0 parameters");
  MSELoss mse;
  EXPECT_MG_ERROR(static_cast<Module&>(mse)(zeros({2})), "does not take a single tensor");
  int calls = 0;
  mse.register_forward_pre_hook([&](Module&, std::vector<Tensor>& in) {
    ++calls;
    ASSERT_EQ(in.size(), 2u);
    in[1] = zeros_like(in[1]);  // compare against zero instead
  });
  expect_values(mse(tensor({3.f}), tensor({1.f})), {}, {9});
  EXPECT_EQ(calls, 1);
}

TEST(LossModules, GradientsFlowThroughTheModule) {
  Tensor x = mixgrad::testing::grad_input({2, 3});
  Tensor y = tensor({1, 2}, kInt64);
  CrossEntropyLoss ce;
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return ce(in[0], y); },
                   std::vector<Tensor>{x});
}

}  // namespace
}  // namespace mixgrad::nn
