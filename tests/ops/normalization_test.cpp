#include "ops/normalization.h"

#include <cmath>
#include <functional>
#include <vector>

#include "backends/kernels.h"
#include "common/test_util.h"

namespace mg = mixgrad;
using mg::Tensor;
using Inputs = std::vector<Tensor>;
using mg::testing::expect_close;
using mg::testing::grad_input;

namespace {

// Per-channel statistics of x viewed as [N, C, S], by plain loops in double.
struct ChannelStats {
  std::vector<double> mean, biased_var, unbiased_var;
};

// Element i of x [N, C, *] belongs to statistic key(n, c); returns mean and variances per key.
ChannelStats stats_by_key(const std::vector<double>& v, int64_t n, int64_t c, int64_t s,
                          int64_t keys, const std::function<int64_t(int64_t, int64_t)>& key) {
  std::vector<double> sum(keys, 0.0), count(keys, 0.0), sq(keys, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j)
      for (int64_t k = 0; k < s; ++k) {
        sum[key(i, j)] += v[(i * c + j) * s + k];
        count[key(i, j)] += 1;
      }
  ChannelStats st;
  for (int64_t q = 0; q < keys; ++q) st.mean.push_back(sum[q] / count[q]);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j)
      for (int64_t k = 0; k < s; ++k) {
        const double d = v[(i * c + j) * s + k] - st.mean[key(i, j)];
        sq[key(i, j)] += d * d;
      }
  for (int64_t q = 0; q < keys; ++q) {
    st.biased_var.push_back(sq[q] / count[q]);
    st.unbiased_var.push_back(sq[q] / (count[q] - 1));
  }
  return st;
}

int64_t spatial(const Tensor& x) {
  return x.numel() / (x.size(0) * x.size(1));
}

ChannelStats batch_stats(const Tensor& x) {
  return stats_by_key(x.to_vector<double>(), x.size(0), x.size(1), spatial(x), x.size(1),
                      [](int64_t, int64_t c) { return c; });
}

// (x - mean[key]) / sqrt(var[key] + eps) * w[c] + b[c] by plain loops, as a float64 tensor.
Tensor reference_norm(const Tensor& x, const std::vector<double>& mean,
                      const std::vector<double>& var,
                      const std::function<int64_t(int64_t, int64_t)>& key, const Tensor& w,
                      const Tensor& b, double eps) {
  const int64_t n = x.size(0), c = x.size(1), s = spatial(x);
  std::vector<double> v = x.to_vector<double>(), out(v.size());
  std::vector<double> wv = w.defined() ? w.to_vector<double>() : std::vector<double>(c, 1.0);
  std::vector<double> bv = b.defined() ? b.to_vector<double>() : std::vector<double>(c, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j)
      for (int64_t k = 0; k < s; ++k) {
        const int64_t e = (i * c + j) * s + k;
        const int64_t q = key(i, j);
        out[e] = (v[e] - mean[q]) / std::sqrt(var[q] + eps) * wv[j] + bv[j];
      }
  return mg::tensor(out).reshape(x.shape());
}

Tensor reference_batch_norm(const Tensor& x, const std::vector<double>& mean,
                            const std::vector<double>& var, const Tensor& w, const Tensor& b,
                            double eps) {
  return reference_norm(
      x, mean, var, [](int64_t, int64_t c) { return c; }, w, b, eps);
}

Tensor reference_group_norm(const Tensor& x, int64_t groups, const Tensor& w, const Tensor& b,
                            double eps) {
  const int64_t n = x.size(0), c = x.size(1);
  auto key = [=](int64_t i, int64_t j) { return i * groups + j / (c / groups); };
  ChannelStats st = stats_by_key(x.to_vector<double>(), n, c, spatial(x), n * groups, key);
  return reference_norm(x, st.mean, st.biased_var, key, w, b, eps);
}

Tensor randn64(const mg::Shape& shape, uint64_t seed) {
  mg::Generator gen(seed);
  return mg::randn(shape, mg::kFloat64, &gen);
}

const std::vector<mg::Shape> kShapes{{6, 3}, {4, 3, 5}, {2, 3, 4, 5}, {3, 3, 20}};

}  // namespace

TEST(BatchNorm, TrainingNormalisesWithBatchStatisticsForEachRank) {
  for (const auto& shape : kShapes) {
    SCOPED_TRACE(mg::detail::to_str(shape));
    Tensor x = randn64(shape, 1) * 3 + 2;
    Tensor w = randn64({3}, 2), b = randn64({3}, 3);
    ChannelStats st = batch_stats(x);
    expect_close(mg::batch_norm(x, Tensor(), Tensor(), w, b, true, 0.1, 1e-5),
                 reference_batch_norm(x, st.mean, st.biased_var, w, b, 1e-5), 1e-12, 1e-12);
    expect_close(mg::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 0.5),
                 reference_batch_norm(x, st.mean, st.biased_var, Tensor(), Tensor(), 0.5), 1e-12,
                 1e-12);
    // float32 (the statistics still accumulate in double).
    expect_close(mg::batch_norm(x.to(mg::kFloat32), Tensor(), Tensor(), w.to(mg::kFloat32),
                                b.to(mg::kFloat32), true),
                 reference_batch_norm(x, st.mean, st.biased_var, w, b, 1e-5), 2e-5, 1e-5);
  }
}

TEST(BatchNorm, LargeMeanAndStridedInputKeepPrecision) {
  // A mean far above the spread: the variance must not cancel away.
  Tensor x = randn64({64, 4, 3}, 4) + 1e4;
  ChannelStats st = batch_stats(x);
  expect_close(mg::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true),
               reference_batch_norm(x, st.mean, st.biased_var, Tensor(), Tensor(), 1e-5), 1e-9,
               1e-9);
  // A non-contiguous input (channels last in memory) gives the same result as its copy.
  Tensor xt = randn64({2, 5, 4, 3}, 5).permute({0, 3, 1, 2});
  expect_close(mg::batch_norm(xt, Tensor(), Tensor(), Tensor(), Tensor(), true),
               mg::batch_norm(xt.contiguous(), Tensor(), Tensor(), Tensor(), Tensor(), true), 0, 0);
}

TEST(BatchNorm, RunningStatisticsAfterSeveralTrainingSteps) {
  const double momentum = 0.1;
  Tensor running_mean = mg::zeros({3}, mg::kFloat64), running_var = mg::ones({3}, mg::kFloat64);
  std::vector<double> expected_mean(3, 0.0), expected_var(3, 1.0);
  for (uint64_t step = 0; step < 4; ++step) {
    Tensor x = randn64({5, 3, 2}, 10 + step) * (1.0 + static_cast<double>(step)) + 0.5;
    mg::batch_norm(x, running_mean, running_var, Tensor(), Tensor(), true, momentum);
    ChannelStats st = batch_stats(x);
    for (int c = 0; c < 3; ++c) {
      expected_mean[c] = (1 - momentum) * expected_mean[c] + momentum * st.mean[c];
      expected_var[c] = (1 - momentum) * expected_var[c] + momentum * st.unbiased_var[c];
    }
  }
  mg::testing::expect_values(running_mean, {3}, expected_mean, 1e-12);
  mg::testing::expect_values(running_var, {3}, expected_var, 1e-12);
}

TEST(BatchNorm, CumulativeMomentumAveragesTheBatches) {
  // The factor 1 / k at batch k turns the running statistics into plain averages.
  Tensor running_mean = mg::zeros({2}, mg::kFloat64), running_var = mg::ones({2}, mg::kFloat64);
  std::vector<double> mean_sum(2, 0.0), var_sum(2, 0.0);
  const int batches = 3;
  for (int k = 1; k <= batches; ++k) {
    Tensor x = randn64({4, 2, 3}, 20 + k) * k;
    mg::batch_norm(x, running_mean, running_var, Tensor(), Tensor(), true, 1.0 / k);
    ChannelStats st = batch_stats(x);
    for (int c = 0; c < 2; ++c) {
      mean_sum[c] += st.mean[c];
      var_sum[c] += st.unbiased_var[c];
    }
  }
  mg::testing::expect_values(running_mean, {2}, {mean_sum[0] / batches, mean_sum[1] / batches},
                             1e-12);
  mg::testing::expect_values(running_var, {2}, {var_sum[0] / batches, var_sum[1] / batches}, 1e-12);
}

TEST(BatchNorm, EvaluationUsesTheRunningStatisticsAndLeavesThemAlone) {
  Tensor running_mean = mg::tensor({0.5, -1.0, 2.0}), running_var = mg::tensor({4.0, 0.25, 1.0});
  Tensor w = mg::tensor({2.0, 1.0, -1.0}), b = mg::tensor({0.0, 1.0, 0.5});
  for (const auto& shape : kShapes) {
    Tensor x = randn64(shape, 30);
    Tensor y = mg::batch_norm(x, running_mean, running_var, w, b, false, 0.1, 1e-5);
    expect_close(y, reference_batch_norm(x, {0.5, -1.0, 2.0}, {4.0, 0.25, 1.0}, w, b, 1e-5), 1e-12,
                 1e-12);
  }
  mg::testing::expect_values(running_mean, {3}, {0.5, -1.0, 2.0});
  mg::testing::expect_values(running_var, {3}, {4.0, 0.25, 1.0});
  // One value per channel is fine outside training.
  Tensor one = mg::tensor({{1.0, 2.0, 3.0}});
  mg::testing::expect_values(
      mg::batch_norm(one, running_mean, running_var), {1, 3},
      {0.5 / std::sqrt(4 + 1e-5), 3 / std::sqrt(0.25 + 1e-5), 1 / std::sqrt(1 + 1e-5)}, 1e-12);
}

TEST(BatchNorm, GradcheckTrainingAndEvaluation) {
  for (const auto& shape : {mg::Shape{5, 3}, mg::Shape{3, 3, 4}, mg::Shape{2, 3, 2, 3}}) {
    SCOPED_TRACE(mg::detail::to_str(shape));
    Tensor x = grad_input(shape, 40), w = grad_input({3}, 41), b = grad_input({3}, 42);
    EXPECT_GRADCHECK(
        [](const Inputs& in) {
          return mg::batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true);
        },
        Inputs({x, w, b}));
    EXPECT_GRADCHECK(
        [](const Inputs& in) { return mg::batch_norm(in[0], Tensor(), Tensor(), {}, {}, true); },
        Inputs({x}));
    Tensor running_mean = mg::tensor({0.1, -0.3, 0.7}), running_var = mg::tensor({0.5, 2.0, 1.5});
    EXPECT_GRADCHECK(
        [&](const Inputs& in) {
          return mg::batch_norm(in[0], running_mean, running_var, in[1], in[2], false);
        },
        Inputs({x, w, b}));
  }
}

TEST(BatchNorm, Errors) {
  Tensor x = mg::zeros({4, 3, 2});
  Tensor c3 = mg::zeros({3}), c4 = mg::zeros({4});
  EXPECT_MG_ERROR(mg::batch_norm(mg::zeros({3}), c3, c3), "at least 2 dims");
  EXPECT_MG_ERROR(mg::batch_norm(mg::zeros({4, 3}, mg::kInt64), Tensor(), Tensor(), {}, {}, true),
                  "expected a floating input");
  EXPECT_MG_ERROR(mg::batch_norm(x, c4, c3), "running_mean of shape [4]");
  EXPECT_MG_ERROR(mg::batch_norm(x, c3, mg::zeros({3, 1})), "running_var of shape [3, 1]");
  EXPECT_MG_ERROR(mg::batch_norm(x, c3, c3, c4), "weight of shape [4]");
  EXPECT_MG_ERROR(mg::batch_norm(x, c3, c3, c3, c4), "bias of shape [4]");
  EXPECT_MG_ERROR(mg::batch_norm(x, c3, mg::zeros({3}, mg::kFloat64)),
                  "running_var has dtype float64");
  EXPECT_MG_ERROR(mg::batch_norm(x, c3, c3, mg::zeros({3}, mg::kFloat64)),
                  "weight has dtype float64");
  EXPECT_MG_ERROR(mg::batch_norm(x, c3, Tensor(), {}, {}, true), "both defined or both undefined");
  EXPECT_MG_ERROR(mg::batch_norm(x, Tensor(), Tensor()), "must be defined in evaluation mode");
  EXPECT_MG_ERROR(mg::batch_norm(mg::zeros({1, 3}), c3, c3, {}, {}, true),
                  "Expected more than 1 value per channel when training");
  EXPECT_MG_ERROR(mg::batch_norm(mg::zeros({1, 3, 1, 1}), Tensor(), Tensor(), {}, {}, true),
                  "Expected more than 1 value per channel when training");
  EXPECT_MG_ERROR(mg::batch_norm(x, c3, c3, {}, {}, true, 1.5), "momentum must be in [0, 1]");
  EXPECT_MG_ERROR(mg::batch_norm(x, c3, c3, {}, {}, true, -0.1), "momentum must be in [0, 1]");
  EXPECT_MG_ERROR(mg::batch_norm(x, c3, c3, {}, {}, false, 0.1, -1e-5), "eps must be non-negative");
  // A failed call leaves the running statistics untouched.
  Tensor running_mean = mg::ones({3});
  EXPECT_MG_ERROR(mg::batch_norm(x, running_mean, c3, c4, {}, true), "weight of shape [4]");
  mg::testing::expect_values(running_mean, {3}, {1, 1, 1});
}

// The moments kernel's contract for a channel of no elements: NaN mean and variance (not a
// variance of 0, which would look like a real statistic).
TEST(NormMoments, EmptyChannelGivesNan) {
  const Tensor x = mg::zeros({2, 3, 0});
  Tensor mean = mg::empty({3}), var = mg::empty({3});
  mg::kernels::norm_moments(x.device(), mean, var, x);
  for (float v : mean.to_vector<float>()) EXPECT_TRUE(std::isnan(v));
  for (float v : var.to_vector<float>()) EXPECT_TRUE(std::isnan(v));
}

TEST(GroupNorm, MatchesReferenceForEachRankAndGrouping) {
  struct Case {
    mg::Shape shape;
    int64_t groups;
  };
  for (const Case& c : {Case{{3, 4}, 2}, Case{{2, 6, 5}, 3}, Case{{2, 4, 3, 3}, 2},
                        Case{{2, 4, 3, 3}, 1}, Case{{2, 4, 20}, 4}}) {
    SCOPED_TRACE(mg::detail::to_str(c.shape) + " groups " + std::to_string(c.groups));
    const int64_t channels = c.shape[1];
    Tensor x = randn64(c.shape, 50) * 2 - 1;
    Tensor w = randn64({channels}, 51), b = randn64({channels}, 52);
    expect_close(mg::group_norm(x, c.groups, w, b), reference_group_norm(x, c.groups, w, b, 1e-5),
                 1e-12, 1e-12);
    expect_close(mg::group_norm(x, c.groups, Tensor(), Tensor(), 0.1),
                 reference_group_norm(x, c.groups, Tensor(), Tensor(), 0.1), 1e-12, 1e-12);
    expect_close(mg::group_norm(x.to(mg::kFloat32), c.groups, w.to(mg::kFloat32)),
                 reference_group_norm(x, c.groups, w, Tensor(), 1e-5), 2e-5, 1e-5);
  }
}

TEST(GroupNorm, GradcheckAndErrors) {
  Tensor x = grad_input({2, 6, 3}, 60), w = grad_input({6}, 61), b = grad_input({6}, 62);
  for (int64_t groups : {1, 2, 6}) {
    EXPECT_GRADCHECK(
        [groups](const Inputs& in) { return mg::group_norm(in[0], groups, in[1], in[2]); },
        Inputs({x, w, b}));
  }
  EXPECT_GRADCHECK([](const Inputs& in) { return mg::group_norm(in[0], 3); }, Inputs({x}));
  Tensor x4 = grad_input({2, 4, 2, 3}, 63), w4 = grad_input({4}, 64);
  EXPECT_GRADCHECK([](const Inputs& in) { return mg::group_norm(in[0], 2, in[1]); },
                   Inputs({x4, w4}));

  Tensor z = mg::zeros({2, 6, 3});
  EXPECT_MG_ERROR(mg::group_norm(mg::zeros({6}), 2), "at least 2 dims");
  EXPECT_MG_ERROR(mg::group_norm(z, 4), "num_groups 4 must be positive and divide");
  EXPECT_MG_ERROR(mg::group_norm(z, 0), "num_groups 0 must be positive");
  EXPECT_MG_ERROR(mg::group_norm(z, 2, mg::zeros({3})), "weight of shape [3]");
  EXPECT_MG_ERROR(mg::group_norm(z, 2, Tensor(), mg::zeros({6}, mg::kFloat64)),
                  "bias has dtype float64");
  EXPECT_MG_ERROR(mg::group_norm(z, 2, Tensor(), Tensor(), -1.0), "eps must be non-negative");
}
