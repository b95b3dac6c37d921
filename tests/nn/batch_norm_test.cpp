#include "nn/batch_norm.h"

#include <cmath>
#include <memory>
#include <vector>

#include "common/scratch_dir.h"
#include "common/test_util.h"
#include "io/checkpoint.h"
#include "ops/normalization.h"

namespace mg = mixgrad;
namespace nn = mixgrad::nn;
using mg::Tensor;
using mg::testing::expect_close;
using mg::testing::expect_values;

namespace {

Tensor randn64(const mg::Shape& shape, uint64_t seed) {
  mg::Generator gen(seed);
  return mg::randn(shape, mg::kFloat64, &gen);
}

std::vector<std::string> names(const mg::NamedTensors& tensors) {
  std::vector<std::string> out;
  for (const auto& [name, t] : tensors) out.push_back(name);
  return out;
}

// Mean and unbiased variance of channel c of x [N, C] by plain loops.
std::pair<double, double> column_stats(const Tensor& x, int64_t c) {
  const int64_t n = x.size(0), channels = x.size(1);
  std::vector<double> v = x.to_vector<double>();
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < n; ++i) sum += v[i * channels + c];
  const double mean = sum / n;
  for (int64_t i = 0; i < n; ++i) sq += (v[i * channels + c] - mean) * (v[i * channels + c] - mean);
  return {mean, sq / (n - 1)};
}

}  // namespace

TEST(BatchNormModule, RegistersParametersAndBuffersAndPrints) {
  nn::BatchNorm2d bn(4);
  EXPECT_EQ(names(bn.named_parameters()), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(names(bn.named_buffers()),
            (std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"}));
  EXPECT_EQ(names(bn.state_dict()),
            (std::vector<std::string>{"weight", "bias", "running_mean", "running_var",
                                      "num_batches_tracked"}));
  expect_values(bn.weight, {4}, {1, 1, 1, 1});
  expect_values(bn.bias, {4}, {0, 0, 0, 0});
  expect_values(bn.running_mean, {4}, {0, 0, 0, 0});
  expect_values(bn.running_var, {4}, {1, 1, 1, 1});
  EXPECT_EQ(bn.num_batches_tracked.dtype(), mg::DType::Int64);
  EXPECT_EQ(bn.num_batches_tracked.dim(), 0);
  EXPECT_EQ(bn.extra_repr(), "4, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true");
  nn::BatchNorm1d plain(3, 1e-3, std::nullopt, false, false);
  EXPECT_TRUE(plain.named_parameters().empty());
  EXPECT_TRUE(plain.named_buffers().empty());
  EXPECT_EQ(plain.extra_repr(),
            "3, eps=0.001, momentum=none, affine=false, track_running_stats=false");
  nn::GroupNorm gn(2, 6);
  EXPECT_EQ(gn.extra_repr(), "2, 6, eps=1e-05, affine=true");
  EXPECT_EQ(names(gn.named_parameters()), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_MG_ERROR(nn::BatchNorm1d(0), "num_features must be positive");
  EXPECT_MG_ERROR(nn::BatchNorm1d(3, 1e-5, 1.5), "momentum must be in [0, 1]");
  EXPECT_MG_ERROR(nn::GroupNorm(4, 6), "must be positive and divide num_channels 6");
}

TEST(BatchNormModule, TrainingUpdatesRunningStatsAndEvalUsesThem) {
  nn::BatchNorm1d bn(2, 1e-5, 0.1, true, true, mg::kFloat64);
  std::vector<double> mean{0, 0}, var{1, 1};
  for (uint64_t step = 0; step < 3; ++step) {
    Tensor x = randn64({6, 2}, step + 1) * 2 + 1;
    expect_close(bn(x), mg::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true), 1e-12);
    for (int64_t c = 0; c < 2; ++c) {
      auto [m, v] = column_stats(x, c);
      mean[c] = 0.9 * mean[c] + 0.1 * m;
      var[c] = 0.9 * var[c] + 0.1 * v;
    }
  }
  expect_values(bn.running_mean, {2}, mean, 1e-12);
  expect_values(bn.running_var, {2}, var, 1e-12);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 3);
  bn.eval();
  Tensor x = mg::tensor({{1.0, 2.0}, {3.0, -1.0}});
  expect_values(
      bn(x), {2, 2},
      {(1 - mean[0]) / std::sqrt(var[0] + 1e-5), (2 - mean[1]) / std::sqrt(var[1] + 1e-5),
       (3 - mean[0]) / std::sqrt(var[0] + 1e-5), (-1 - mean[1]) / std::sqrt(var[1] + 1e-5)},
      1e-12);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 3);  // eval steps are not counted
}

TEST(BatchNormModule, CumulativeMomentumAndUntrackedStatistics) {
  nn::BatchNorm1d bn(1, 1e-5, std::nullopt, true, true, mg::kFloat64);
  double mean_sum = 0, var_sum = 0;
  for (uint64_t step = 0; step < 4; ++step) {
    Tensor x = randn64({5, 1, 3}, 10 + step) * (1.0 + step);
    bn(x);
    auto [m, v] = column_stats(x.reshape({15, 1}), 0);
    mean_sum += m;
    var_sum += v;
  }
  expect_values(bn.running_mean, {1}, {mean_sum / 4}, 1e-12);
  expect_values(bn.running_var, {1}, {var_sum / 4}, 1e-12);
  // Without running statistics, eval mode normalises with the batch's own.
  nn::BatchNorm2d untracked(2, 1e-5, 0.1, false, false, mg::kFloat64);
  untracked.eval();
  Tensor x = randn64({2, 2, 3, 3}, 20);
  expect_close(untracked(x), mg::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true), 0, 0);
}

TEST(BatchNormModule, RankErrorsLeaveTheStateUnchanged) {
  nn::BatchNorm1d bn1(3);
  nn::BatchNorm2d bn2(3);
  EXPECT_MG_ERROR(bn1(mg::zeros({2, 3, 4, 4})), "BatchNorm1d: expected input of shape [N, C] or");
  EXPECT_MG_ERROR(bn2(mg::zeros({2, 3, 4})), "BatchNorm2d: expected input of shape [N, C, H, W]");
  EXPECT_MG_ERROR(bn2(mg::zeros({2, 4, 2, 2})), "running_mean of shape [3]");
  EXPECT_MG_ERROR(bn1(mg::ones({1, 3})), "Expected more than 1 value per channel when training");
  EXPECT_EQ(bn1.num_batches_tracked.item<int64_t>(), 0);
  expect_values(bn1.running_mean, {3}, {0, 0, 0});
  bn1.eval();
  expect_values(bn1(mg::ones({1, 3})), {1, 3}, std::vector<double>(3, 1 / std::sqrt(1 + 1e-5)),
                1e-6);
}

TEST(BatchNormModule, CheckpointRoundTripKeepsRunningStatistics) {
  nn::BatchNorm2d a(3, 1e-5, 0.2);
  for (uint64_t step = 0; step < 2; ++step) a(randn64({4, 3, 2, 2}, 30 + step).to(mg::kFloat32));
  a.weight.detach().fill_(1.5);
  mg::testing::ScratchDir dir;
  mg::io::save_checkpoint(dir.path("bn.safetensors"), a);
  nn::BatchNorm2d b(3, 1e-5, 0.2);
  mg::io::load_checkpoint(dir.path("bn.safetensors"), b);
  for (const char* name : {"weight", "bias", "running_mean", "running_var"})
    expect_close(b.find_tensor(name), a.find_tensor(name), 0, 0);
  EXPECT_EQ(b.num_batches_tracked.item<int64_t>(), 2);
  a.eval();
  b.eval();
  Tensor x = randn64({2, 3, 2, 2}, 40).to(mg::kFloat32);
  expect_close(b(x), a(x), 0, 0);
}

TEST(GroupNormModule, ForwardMatchesTheOpAndLearns) {
  nn::GroupNorm gn(2, 4, 1e-5, true, mg::kFloat64);
  gn.weight.detach().copy_(mg::tensor({1.0, 2.0, 3.0, 4.0}));
  Tensor x = randn64({3, 4, 5}, 50);
  expect_close(gn(x), mg::group_norm(x, 2, gn.weight, gn.bias), 0, 0);
  gn.eval();  // same in eval mode
  expect_close(gn(x), mg::group_norm(x, 2, gn.weight, gn.bias), 0, 0);
  mg::sum(mg::square(gn(x))).backward();
  ASSERT_TRUE(gn.weight.grad().defined());
  ASSERT_TRUE(gn.bias.grad().defined());
}

TEST(BatchNormModule, PerExpertNetworksTrainAndEvalUsesRunningStatistics) {
  const int experts = 3;
  nn::ModuleList nets;
  for (int e = 0; e < experts; ++e) {
    mg::manual_seed(100 + e);
    nets.push_back(std::make_shared<nn::Sequential>(
        std::make_shared<nn::Linear>(4, 8, true, mg::kFloat64),
        std::make_shared<nn::BatchNorm1d>(8, 1e-5, 0.1, true, true, mg::kFloat64),
        std::make_shared<nn::ReLU>()));
  }
  mg::optim::SGD opt(nets.parameters(), {.lr = 0.5});
  Tensor x = randn64({16, 4}, 7);
  Tensor target = mg::relu(randn64({16, 8}, 8));
  auto loss_fn = [&]() {
    Tensor loss = mg::zeros({}, mg::kFloat64);
    for (int e = 0; e < experts; ++e) loss = loss + mg::mse_loss((*nets[e])(x), target);
    return loss;
  };
  std::vector<double> losses;
  for (int step = 0; step < 8; ++step) {
    opt.zero_grad();
    Tensor loss = loss_fn();
    loss.backward();
    opt.step();
    losses.push_back(loss.item<double>());
  }
  for (size_t i = 1; i < losses.size(); ++i) EXPECT_LT(losses[i], losses[i - 1]) << "step " << i;
  EXPECT_LT(losses.back(), 0.7 * losses.front());
  for (int e = 0; e < experts; ++e) {
    auto& bn = dynamic_cast<nn::BatchNorm1d&>(*dynamic_cast<nn::Sequential&>(*nets[e])[1]);
    EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 8);
  }

  nets.eval();
  Tensor probe = randn64({5, 4}, 9);
  for (int e = 0; e < experts; ++e) {
    auto& seq = dynamic_cast<nn::Sequential&>(*nets[e]);
    auto& lin = dynamic_cast<nn::Linear&>(*seq[0]);
    auto& bn = dynamic_cast<nn::BatchNorm1d&>(*seq[1]);
    // Hand-computed: relu((x W^T + b - running_mean) / sqrt(running_var + eps) * gamma + beta).
    std::vector<double> h = mg::linear(probe, lin.weight, lin.bias).to_vector<double>();
    std::vector<double> rm = bn.running_mean.to_vector<double>();
    std::vector<double> rv = bn.running_var.to_vector<double>();
    std::vector<double> g = bn.weight.to_vector<double>(), be = bn.bias.to_vector<double>();
    std::vector<double> expected(h.size());
    for (size_t i = 0; i < h.size(); ++i) {
      const size_t c = i % 8;
      expected[i] = std::max(0.0, (h[i] - rm[c]) / std::sqrt(rv[c] + 1e-5) * g[c] + be[c]);
    }
    expect_values(seq(probe), {5, 8}, expected, 1e-12);
    // One sample at a time gives the same rows: no batch statistics in eval mode.
    expect_values(seq(probe.narrow(0, 2, 1)), {1, 8},
                  std::vector<double>(expected.begin() + 16, expected.begin() + 24), 1e-12);
  }
}
