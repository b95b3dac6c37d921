#include "models/resnet_block.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "common/test_util.h"
#include "core/grad_mode.h"
#include "ops/conv.h"
#include "ops/normalization.h"

namespace mg = mixgrad;
using mg::Tensor;
using mg::models::BasicBlock;
using mg::testing::expect_close;

namespace {

Tensor randn64(const mg::Shape& shape, uint64_t seed) {
  mg::Generator gen(seed);
  return mg::randn(shape, mg::kFloat64, &gen);
}

// A float64 block whose parameters (batch-norm scales and shifts included) are random, so that
// a mix-up of any two of them shows in the output.
std::shared_ptr<BasicBlock> random_block(int64_t in, int64_t out, int64_t stride) {
  auto block = std::make_shared<BasicBlock>(in, out, stride, mg::kFloat64);
  mg::NoGradGuard no_grad;
  uint64_t seed = 10;
  for (auto& [name, p] : block->named_parameters()) p.copy_(randn64(p.shape(), seed++) * 0.5);
  return block;
}

// Running statistics of one batch-norm layer, copied so that the reference's in-place updates
// leave the module's alone.
struct Stats {
  Tensor mean, var;
};
Stats copy_stats(const mg::nn::BatchNorm2d& bn) {
  return {bn.running_mean.clone(), bn.running_var.clone()};
}

// The block written out with the ops on the block's parameters and the given running statistics
// (updated in place in training mode, as the module updates its own).
Tensor reference(const BasicBlock& b, const Tensor& x, bool training, Stats& s1, Stats& s2,
                 Stats* s_down) {
  const auto bn = [training](const Tensor& t, const mg::nn::BatchNorm2d& layer, Stats& s) {
    return mg::batch_norm(t, s.mean, s.var, layer.weight, layer.bias, training, 0.1, 1e-5);
  };
  const int64_t stride = b.conv1->options().stride[0];
  Tensor h = mg::conv2d(x, b.conv1->weight, Tensor(), {.stride = stride, .padding = 1});
  h = mg::relu(bn(h, *b.bn1, s1));
  h = bn(mg::conv2d(h, b.conv2->weight, Tensor(), {.padding = 1}), *b.bn2, s2);
  Tensor shortcut = x;
  if (s_down != nullptr) {
    const auto& conv = b.downsample->at<mg::nn::Conv2d>(0);
    shortcut = bn(mg::conv2d(x, conv->weight, Tensor(), {.stride = stride}),
                  *b.downsample->at<mg::nn::BatchNorm2d>(1), *s_down);
  }
  return mg::relu(h + shortcut);
}

// Per-channel mean and unbiased variance of t [N, C, H, W], by plain loops.
std::pair<std::vector<double>, std::vector<double>> channel_stats(const Tensor& t) {
  const int64_t n = t.size(0), c = t.size(1), hw = t.size(2) * t.size(3);
  const std::vector<double> v = t.to_vector<double>();
  std::vector<double> mean(c, 0.0), var(c, 0.0);
  for (int64_t ch = 0; ch < c; ++ch) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < hw; ++j) mean[ch] += v[(i * c + ch) * hw + j];
    mean[ch] /= static_cast<double>(n * hw);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < hw; ++j) {
        const double d = v[(i * c + ch) * hw + j] - mean[ch];
        var[ch] += d * d;
      }
    var[ch] /= static_cast<double>(n * hw - 1);
  }
  return {mean, var};
}

std::vector<std::string> sorted_names(const mg::NamedTensors& tensors) {
  std::vector<std::string> out;
  for (const auto& [name, t] : tensors) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST(BasicBlock, OutputShapesForIdentityAndProjectionShortcuts) {
  BasicBlock identity(4, 4);
  EXPECT_EQ(identity.downsample, nullptr);
  EXPECT_EQ(identity(mg::randn({2, 4, 6, 6})).shape(), (mg::Shape{2, 4, 6, 6}));

  BasicBlock wider(4, 8);  // stride 1, but the channel count changes
  ASSERT_NE(wider.downsample, nullptr);
  EXPECT_EQ(wider(mg::randn({2, 4, 6, 6})).shape(), (mg::Shape{2, 8, 6, 6}));

  BasicBlock strided(4, 8, 2);
  EXPECT_EQ(strided(mg::randn({2, 4, 7, 6})).shape(), (mg::Shape{2, 8, 4, 3}));
  BasicBlock strided_same_width(4, 4, 2);  // the stride alone asks for a projection
  ASSERT_NE(strided_same_width.downsample, nullptr);
  EXPECT_EQ(strided_same_width(mg::randn({1, 4, 6, 6})).shape(), (mg::Shape{1, 4, 3, 3}));
}

TEST(BasicBlock, StateDictNamesMatchTorchvision) {
  // The keys; their order is mixgrad's (parameters, then buffers), not torchvision's.
  BasicBlock projection(4, 8, 2);
  EXPECT_EQ(sorted_names(projection.state_dict()),
            (std::vector<std::string>{
                "bn1.bias", "bn1.num_batches_tracked", "bn1.running_mean", "bn1.running_var",
                "bn1.weight", "bn2.bias", "bn2.num_batches_tracked", "bn2.running_mean",
                "bn2.running_var", "bn2.weight", "conv1.weight", "conv2.weight",
                "downsample.0.weight", "downsample.1.bias", "downsample.1.num_batches_tracked",
                "downsample.1.running_mean", "downsample.1.running_var", "downsample.1.weight"}));
  // No downsample and no convolution biases.
  BasicBlock identity(8, 8);
  EXPECT_EQ(sorted_names(identity.state_dict()),
            (std::vector<std::string>{
                "bn1.bias", "bn1.num_batches_tracked", "bn1.running_mean", "bn1.running_var",
                "bn1.weight", "bn2.bias", "bn2.num_batches_tracked", "bn2.running_mean",
                "bn2.running_var", "bn2.weight", "conv1.weight", "conv2.weight"}));
}

TEST(BasicBlock, TrainingOutputAndRunningStatsEqualTheOpsWrittenOut) {
  for (const auto& [in, out, stride] : {std::tuple{3, 3, 1}, std::tuple{3, 5, 2}}) {
    SCOPED_TRACE("in " + std::to_string(in) + " out " + std::to_string(out));
    auto block = random_block(in, out, stride);
    const Tensor x = randn64({3, in, 6, 5}, 1);
    Stats s1 = copy_stats(*block->bn1), s2 = copy_stats(*block->bn2);
    const bool projection = block->downsample != nullptr;
    Stats sd = projection ? copy_stats(*block->downsample->at<mg::nn::BatchNorm2d>(1)) : Stats{};
    const Tensor expected = reference(*block, x, true, s1, s2, projection ? &sd : nullptr);
    block->train();
    expect_close((*block)(x), expected, 1e-12, 1e-12);
    expect_close(block->bn1->running_mean, s1.mean, 1e-14, 1e-12);
    expect_close(block->bn1->running_var, s1.var, 1e-14, 1e-12);
    expect_close(block->bn2->running_mean, s2.mean, 1e-14, 1e-12);
    expect_close(block->bn2->running_var, s2.var, 1e-14, 1e-12);
    if (projection) {
      const auto& down_bn = *block->downsample->at<mg::nn::BatchNorm2d>(1);
      expect_close(down_bn.running_mean, sd.mean, 1e-14, 1e-12);
      expect_close(down_bn.running_var, sd.var, 1e-14, 1e-12);
    }
  }
}

TEST(BasicBlock, TrainingStepUpdatesRunningStatsAndEvalUsesThem) {
  auto block = random_block(2, 2, 1);
  const Tensor x = randn64({4, 2, 5, 5}, 2);
  block->train();
  const Tensor train_out = (*block)(x);
  // bn1 saw conv1(x): running = 0.9 * (0, 1) + 0.1 * (batch mean, unbiased batch variance).
  const auto [mean, var] =
      channel_stats(mg::conv2d(x, block->conv1->weight, Tensor(), {.padding = 1}));
  for (int64_t c = 0; c < 2; ++c) {
    EXPECT_NEAR(block->bn1->running_mean[c].item<double>(), 0.1 * mean[c], 1e-12);
    EXPECT_NEAR(block->bn1->running_var[c].item<double>(), 0.9 + 0.1 * var[c], 1e-12);
  }
  EXPECT_EQ(block->bn1->num_batches_tracked.item<int64_t>(), 1);
  EXPECT_EQ(block->bn2->num_batches_tracked.item<int64_t>(), 1);

  block->eval();
  Stats s1 = copy_stats(*block->bn1), s2 = copy_stats(*block->bn2);
  const Tensor eval_out = (*block)(x);
  expect_close(eval_out, reference(*block, x, false, s1, s2, nullptr), 1e-12, 1e-12);
  EXPECT_GT(mg::max(mg::abs(eval_out - train_out)).item<double>(), 1e-3);
  // Evaluation leaves the statistics alone.
  expect_close(block->bn1->running_mean, s1.mean, 0, 0);
  EXPECT_EQ(block->bn1->num_batches_tracked.item<int64_t>(), 1);
}

TEST(BasicBlock, GradcheckInEvalAndTrainingMode) {
  for (const int64_t stride : {1, 2}) {
    auto block = random_block(2, stride == 1 ? 2 : 3, stride);
    // Non-trivial running statistics for eval mode.
    block->train();
    (*block)(randn64({2, 2, 4, 4}, 3));
    for (const bool training : {false, true}) {
      SCOPED_TRACE("stride " + std::to_string(stride) + (training ? " train" : " eval"));
      block->train(training);
      EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return (*block)(in[0]); },
                       (std::vector<Tensor>{mg::testing::grad_input({2, 2, 4, 4}, 4)}));
    }
  }
}

TEST(BasicBlock, RejectsBadArgumentsAndInputs) {
  EXPECT_MG_ERROR(BasicBlock(0, 4), "BasicBlock");
  EXPECT_MG_ERROR(BasicBlock(4, 4, 0), "stride must be positive");
  BasicBlock block(4, 4);
  EXPECT_THROW(block(mg::randn({2, 3, 6, 6})), mg::Error);
}
