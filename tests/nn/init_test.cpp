#include "nn/init.h"

#include <cmath>
#include <vector>

#include "common/test_util.h"

namespace mg = mixgrad;
namespace init = mixgrad::nn::init;
using init::FanMode;
using init::MatrixOrder;
using init::Nonlinearity;
using init::WeightLayout;
using mg::Tensor;
using mg::testing::expect_close;
using mg::testing::expect_values;

namespace {

constexpr WeightLayout kExpertsInOut{.batch_dims = 1, .order = MatrixOrder::InOut};

// Expects the sample mean and standard deviation of `t` within 5 standard errors of a
// distribution with the given mean, standard deviation and kurtosis (3 normal, 1.8 uniform).
// The standard error of the sample standard deviation is std * sqrt((kurtosis - 1) / (4 n)).
void expect_moments(const Tensor& t, double mean, double std, double kurtosis) {
  const std::vector<double> v = t.to_vector<double>();
  const double n = static_cast<double>(v.size());
  double sum = 0, sum_sq = 0;
  for (double x : v) sum += x;
  const double sample_mean = sum / n;
  for (double x : v) sum_sq += (x - sample_mean) * (x - sample_mean);
  const double sample_std = std::sqrt(sum_sq / (n - 1));
  EXPECT_NEAR(sample_mean, mean, 5 * std / std::sqrt(n));
  EXPECT_NEAR(sample_std, std, 5 * std * std::sqrt((kurtosis - 1) / (4 * n)));
}

// Uniform in [-bound, bound]: every value inside, the extremes near both ends (a sample of n
// misses the outer 20 / n of a side with probability e^-20), and the uniform's moments.
void expect_uniform(const Tensor& t, double bound) {
  const std::vector<double> v = t.to_vector<double>();
  const double n = static_cast<double>(v.size());
  double lo = v[0], hi = v[0];
  for (double x : v) {
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  EXPECT_GE(lo, -bound);
  EXPECT_LE(hi, bound);
  EXPECT_LE(lo, -bound + 2 * bound * 20 / n);
  EXPECT_GE(hi, bound - 2 * bound * 20 / n);
  expect_moments(t, 0, bound / std::sqrt(3.0), 1.8);
}

// Max |a - b| over all elements.
double max_abs_diff(const Tensor& a, const Tensor& b) {
  return mg::amax(mg::abs(a.to(mg::kFloat64) - b.to(mg::kFloat64)), {0, 1}).item<double>();
}

// m^T m (columns orthonormal) or m m^T (rows orthonormal), whichever is the smaller square, in
// float64 so that only the values of m are judged.
Tensor gram(const Tensor& m) {
  Tensor d = m.to(mg::kFloat64);
  return m.size(0) >= m.size(1) ? mg::matmul(d.t(), d) : mg::matmul(d, d.t());
}

void expect_orthogonal(const Tensor& m, double gain, double tol) {
  Tensor g = gram(m);
  EXPECT_LE(max_abs_diff(g, mg::eye(g.size(0), std::nullopt, mg::kFloat64) * (gain * gain)), tol)
      << "matrix of shape " << mg::describe(m);
}

}  // namespace

TEST(InitFans, PyTorchLayoutAndReceptiveField) {
  auto fans = init::fan_in_and_fan_out(mg::empty({3, 5}));  // Linear weight [out, in]
  EXPECT_EQ(fans.fan_in, 5);
  EXPECT_EQ(fans.fan_out, 3);
  fans = init::fan_in_and_fan_out(mg::empty({4, 3, 2, 5}));  // conv [out, in, kh, kw]
  EXPECT_EQ(fans.fan_in, 3 * 10);
  EXPECT_EQ(fans.fan_out, 4 * 10);
}

TEST(InitFans, BatchDimsAndInOutOrder) {
  auto experts = mg::empty({6, 3, 5});  // [E, in, out]
  auto fans = init::fan_in_and_fan_out(experts, kExpertsInOut);
  EXPECT_EQ(fans.fan_in, 3);
  EXPECT_EQ(fans.fan_out, 5);
  fans = init::fan_in_and_fan_out(experts, {.batch_dims = 1});  // [E, out, in]
  EXPECT_EQ(fans.fan_in, 5);
  EXPECT_EQ(fans.fan_out, 3);
  fans = init::fan_in_and_fan_out(experts);  // as a conv1d weight [out, in, k]
  EXPECT_EQ(fans.fan_in, 15);
  EXPECT_EQ(fans.fan_out, 30);
  fans = init::fan_in_and_fan_out(mg::empty({2, 3, 4, 5, 6}), {.batch_dims = 2});
  EXPECT_EQ(fans.fan_in, 5 * 6);
  EXPECT_EQ(fans.fan_out, 4 * 6);
}

TEST(InitFans, Errors) {
  EXPECT_MG_ERROR(init::fan_in_and_fan_out(mg::empty({4})),
                  "tensor of shape [4] has fewer than 2 dimensions after its 0 batch dims");
  EXPECT_MG_ERROR(init::fan_in_and_fan_out(mg::empty({4, 3}), {.batch_dims = 1}),
                  "fewer than 2 dimensions after its 1 batch dims");
  EXPECT_MG_ERROR(init::fan_in_and_fan_out(mg::empty({4, 3}), {.batch_dims = -1}),
                  "batch_dims must be non-negative, got -1");
  EXPECT_MG_ERROR(init::fan_in_and_fan_out(mg::empty({2, 4, 3, 3}), kExpertsInOut),
                  "InOut needs exactly [in, out]");
}

TEST(InitGain, PyTorchTable) {
  for (auto nl :
       {Nonlinearity::Linear, Nonlinearity::Conv1d, Nonlinearity::Conv2d, Nonlinearity::Conv3d,
        Nonlinearity::ConvTranspose1d, Nonlinearity::ConvTranspose2d, Nonlinearity::ConvTranspose3d,
        Nonlinearity::Sigmoid})
    EXPECT_EQ(init::calculate_gain(nl), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(Nonlinearity::Tanh), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(Nonlinearity::Relu), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain(Nonlinearity::Relu, 0.5), std::sqrt(2.0));  // ignored
  EXPECT_DOUBLE_EQ(init::calculate_gain(Nonlinearity::LeakyRelu), std::sqrt(2.0 / 1.0001));
  EXPECT_DOUBLE_EQ(init::calculate_gain(Nonlinearity::LeakyRelu, 0.2), std::sqrt(2.0 / 1.04));
  EXPECT_DOUBLE_EQ(init::calculate_gain(Nonlinearity::LeakyRelu, 0.0), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain(Nonlinearity::Selu), 0.75);
}

TEST(InitGain, ParsesPyTorchNames) {
  EXPECT_EQ(init::parse_nonlinearity("leaky_relu"), Nonlinearity::LeakyRelu);
  EXPECT_EQ(init::parse_nonlinearity("conv_transpose2d"), Nonlinearity::ConvTranspose2d);
  EXPECT_EQ(init::parse_nonlinearity("selu"), Nonlinearity::Selu);
  EXPECT_EQ(init::parse_fan_mode("fan_in"), FanMode::FanIn);
  EXPECT_EQ(init::parse_fan_mode("fan_out"), FanMode::FanOut);
  EXPECT_MG_ERROR(init::parse_nonlinearity("swish"),
                  "unknown nonlinearity 'swish'; expected one of linear, conv1d");
  EXPECT_MG_ERROR(init::parse_fan_mode("fan_avg"), "mode 'fan_avg' not supported");
}

TEST(InitBasic, ConstantZerosOnesAreExact) {
  auto w = mg::empty({2, 3}).requires_grad_();
  Tensor r = init::constant_(w, 0.25);
  EXPECT_TRUE(r.is_same(w));
  expect_values(w, {2, 3}, {0.25, 0.25, 0.25, 0.25, 0.25, 0.25});
  init::ones_(w);
  expect_values(w, {2, 3}, {1, 1, 1, 1, 1, 1});
  init::zeros_(w);
  expect_values(w, {2, 3}, {0, 0, 0, 0, 0, 0});
  EXPECT_TRUE(w.is_leaf());
  EXPECT_TRUE(w.requires_grad());
  auto counts = mg::empty({3}, mg::kInt64);  // any dtype
  init::constant_(counts, 7);
  expect_values(counts, {3}, {7, 7, 7});
}

TEST(InitBasic, UniformAndNormalStatistics) {
  mg::Generator gen(11);
  auto u = init::uniform_(mg::empty({200000}), -2.0, 3.0, &gen);
  const auto v = u.to_vector<double>();
  EXPECT_GE(*std::min_element(v.begin(), v.end()), -2.0);
  EXPECT_LE(*std::max_element(v.begin(), v.end()), 3.0);
  expect_moments(u, 0.5, 5 / std::sqrt(12.0), 1.8);
  auto n = init::normal_(mg::empty({200000}, mg::kFloat64), 1.5, 0.5, &gen);
  expect_moments(n, 1.5, 0.5, 3.0);
}

TEST(InitBasic, GeneratorMakesDrawsReproducible) {
  mg::Generator a(5), b(5), c(6);
  auto x = init::normal_(mg::empty({64}), 0, 1, &a);
  auto y = init::normal_(mg::empty({64}), 0, 1, &b);
  auto z = init::normal_(mg::empty({64}), 0, 1, &c);
  EXPECT_EQ(x.to_vector<float>(), y.to_vector<float>());
  EXPECT_NE(x.to_vector<float>(), z.to_vector<float>());
  mg::manual_seed(3);
  auto d1 = init::kaiming_uniform_(mg::empty({8, 8}));
  mg::manual_seed(3);
  auto d2 = init::kaiming_uniform_(mg::empty({8, 8}));
  EXPECT_EQ(d1.to_vector<float>(), d2.to_vector<float>());
}

TEST(InitBasic, WritesLeavesThatRequireGradWithoutRecording) {
  mg::Generator gen(1);
  auto w = mg::zeros({4, 6}).requires_grad_();
  const uint64_t version = w.version();
  Tensor r = init::xavier_normal_(w, 1.0, {}, &gen);
  EXPECT_TRUE(r.is_same(w));
  EXPECT_TRUE(w.is_leaf());
  EXPECT_TRUE(w.requires_grad());
  EXPECT_GT(w.version(), version);
  EXPECT_GT(mg::amax(mg::abs(w), {0, 1}).item<float>(), 0.f);
  // A view of a parameter (one expert of a stack) can be initialised on its own.
  auto stack = mg::zeros({2, 3, 3}).requires_grad_();
  init::orthogonal_(stack.select(0, 1), 1.0, 0, &gen);
  expect_values(stack.select(0, 0), {3, 3}, std::vector<double>(9, 0.0));
  expect_orthogonal(stack.select(0, 1), 1.0, 1e-5);
}

TEST(InitBasic, Errors) {
  EXPECT_MG_ERROR(init::normal_(mg::empty({3}, mg::kInt64)),
                  "normal_: expected a floating tensor, got int64[3]");
  EXPECT_MG_ERROR(init::uniform_(mg::empty({3}, mg::kInt32)), "expected a floating tensor");
  EXPECT_MG_ERROR(init::kaiming_uniform_(mg::empty({3, 3}, mg::kInt64)),
                  "kaiming_uniform_: expected a floating tensor");
  EXPECT_MG_ERROR(init::uniform_(mg::empty({3}), 1.0, 0.0), "a <= b, got a = 1");
  EXPECT_MG_ERROR(init::normal_(mg::empty({3}), 0.0, -1.0), "must be non-negative, got -1");
  EXPECT_MG_ERROR(init::xavier_uniform_(mg::empty({5})), "fewer than 2 dimensions");
  EXPECT_MG_ERROR(init::xavier_normal_(mg::empty({5})), "xavier_normal_");
  EXPECT_MG_ERROR(init::kaiming_normal_(mg::empty({5})), "fewer than 2 dimensions");
  EXPECT_MG_ERROR(init::kaiming_uniform_(mg::empty({0})), "fewer than 2 dimensions");
  EXPECT_MG_ERROR(init::orthogonal_(mg::empty({5})), "orthogonal_");
  EXPECT_MG_ERROR(init::orthogonal_(mg::empty({5, 4}), 1.0, 1), "fewer than 2 dimensions");
  EXPECT_MG_ERROR(init::orthogonal_(mg::empty({5, 4}, mg::kInt64)), "expected a floating");
  // Empty tensors pass the checks and are left alone.
  EXPECT_EQ(init::kaiming_uniform_(mg::empty({0, 4})).numel(), 0);
  EXPECT_EQ(init::xavier_normal_(mg::empty({0, 0})).numel(), 0);
  EXPECT_EQ(init::orthogonal_(mg::empty({3, 0})).numel(), 0);
}

TEST(InitXavier, UniformBoundAndNormalStd) {
  mg::Generator gen(21);
  const double gain = 1.7;
  auto w = init::xavier_uniform_(mg::empty({300, 500}), gain, {}, &gen);
  expect_uniform(w, gain * std::sqrt(6.0 / 800));
  auto n = init::xavier_normal_(mg::empty({300, 500}), gain, {}, &gen);
  expect_moments(n, 0, gain * std::sqrt(2.0 / 800), 3.0);
}

TEST(InitKaiming, DefaultsModesAndGains) {
  mg::Generator gen(31);
  // a = 0 with leaky_relu: gain sqrt(2), fan_in = 500.
  auto w = init::kaiming_uniform_(mg::empty({300, 500}), 0, FanMode::FanIn, Nonlinearity::LeakyRelu,
                                  {}, &gen);
  expect_uniform(w, std::sqrt(6.0 / 500));
  // PyTorch's Linear: a = sqrt(5) gives bound 1 / sqrt(fan_in).
  auto lin = init::kaiming_uniform_(mg::empty({300, 500}), std::sqrt(5.0), FanMode::FanIn,
                                    Nonlinearity::LeakyRelu, {}, &gen);
  expect_uniform(lin, 1 / std::sqrt(500.0));
  auto n = init::kaiming_normal_(mg::empty({300, 500}), 0, FanMode::FanOut, Nonlinearity::Relu, {},
                                 &gen);
  expect_moments(n, 0, std::sqrt(2.0 / 300), 3.0);
  auto t = init::kaiming_normal_(mg::empty({300, 500}, mg::kFloat64), 0, FanMode::FanIn,
                                 Nonlinearity::Tanh, {}, &gen);
  expect_moments(t, 0, 5.0 / 3.0 / std::sqrt(500.0), 3.0);
}

TEST(InitExperts, StackedWeightsUseTheFansOfOneExpert) {
  mg::Generator gen(41);
  const int64_t experts = 8, d_in = 400, d_out = 100;
  auto up = mg::empty({experts, d_in, d_out});  // x @ up[e]
  init::kaiming_uniform_(up, 0, FanMode::FanIn, Nonlinearity::Relu, kExpertsInOut, &gen);
  expect_uniform(up, std::sqrt(6.0 / d_in));  // not 1 / sqrt(d_in * d_out) as for a conv
  init::kaiming_normal_(up, 0, FanMode::FanOut, Nonlinearity::Relu, kExpertsInOut, &gen);
  expect_moments(up, 0, std::sqrt(2.0 / d_out), 3.0);
  auto down = mg::empty({experts, d_in, d_out});  // [E, out, in]
  init::xavier_uniform_(down, 1.0, {.batch_dims = 1}, &gen);
  expect_uniform(down, std::sqrt(6.0 / (d_in + d_out)));
  // Each expert is its own draw: slices differ and each has the expected spread.
  EXPECT_GT(max_abs_diff(up.select(0, 0), up.select(0, 1)), 0.1);
  for (int64_t e = 0; e < experts; ++e)
    expect_moments(up.select(0, e), 0, std::sqrt(2.0 / d_out), 3.0);
}

TEST(InitOrthogonal, TallWideAndSquareFloat32) {
  mg::Generator gen(51);
  for (const mg::Shape& shape : {mg::Shape{64, 24}, mg::Shape{24, 64}, mg::Shape{32, 32}}) {
    auto w = init::orthogonal_(mg::empty(shape), 1.0, 0, &gen);
    EXPECT_EQ(w.dtype(), mg::kFloat32);
    expect_orthogonal(w, 1.0, 1e-5);
  }
  // Square: orthogonal both ways.
  auto sq = init::orthogonal_(mg::empty({16, 16}, mg::kFloat64), 1.0, 0, &gen);
  expect_close(mg::matmul(sq, sq.t()), mg::eye(16, std::nullopt, mg::kFloat64), 1e-12, 0);
  expect_close(mg::matmul(sq.t(), sq), mg::eye(16, std::nullopt, mg::kFloat64), 1e-12, 0);
}

TEST(InitOrthogonal, GainAndReceptiveFieldFlattening) {
  mg::Generator gen(52);
  auto w = init::orthogonal_(mg::empty({30, 10}, mg::kFloat64), 2.5, 0, &gen);
  expect_orthogonal(w, 2.5, 1e-12);
  auto conv = init::orthogonal_(mg::empty({8, 2, 3, 3}), 1.0, 0, &gen);  // rows of [8, 18]
  expect_orthogonal(conv.reshape({8, 18}), 1.0, 1e-5);
}

// Q of the QR decomposition with a positive diagonal of R, by Gram-Schmidt on the columns of
// the tall orientation: the unique answer PyTorch's algorithm gives for the same normals.
Tensor gram_schmidt_q(const Tensor& a) {
  const bool tall = a.size(0) >= a.size(1);
  Tensor m = tall ? a : a.t();
  std::vector<Tensor> q;
  for (int64_t j = 0; j < m.size(1); ++j) {
    Tensor v = m.select(1, j).clone();
    for (const Tensor& u : q) v = v - u * (u * v).sum();
    q.push_back(v / mg::sqrt((v * v).sum()));
  }
  Tensor qm = mg::stack(q, 1);
  return tall ? qm : qm.t();
}

TEST(InitOrthogonal, MatchesQrWithPositiveDiagonalOfTheDrawnNormals) {
  for (const mg::Shape& shape : {mg::Shape{7, 4}, mg::Shape{4, 7}}) {
    mg::Generator draw(77), init_gen(77);
    Tensor normals = mg::randn(shape, mg::kFloat64, &draw);
    auto w = init::orthogonal_(mg::empty(shape, mg::kFloat64), 1.0, 0, &init_gen);
    expect_close(w, gram_schmidt_q(normals), 1e-10, 0);
  }
}

TEST(InitOrthogonal, EachExpertSliceIndependently) {
  mg::Generator gen(61);
  auto tall = init::orthogonal_(mg::empty({4, 40, 12}), 1.0, 1, &gen);  // [E, in, out]
  for (int64_t e = 0; e < 4; ++e) expect_orthogonal(tall.select(0, e), 1.0, 1e-5);
  EXPECT_GT(max_abs_diff(tall.select(0, 0), tall.select(0, 1)), 0.1);
  // Not orthogonal as one [4 * 40, 12] matrix would be: the slices are each normalised.
  EXPECT_GT(max_abs_diff(gram(tall.reshape({160, 12})), mg::eye(12, std::nullopt, mg::kFloat64)),
            1.0);
  auto wide = init::orthogonal_(mg::empty({2, 3, 6, 10}), 0.5, 2, &gen);
  auto slices = wide.reshape({6, 6, 10});
  for (int64_t e = 0; e < 6; ++e) expect_orthogonal(slices.select(0, e), 0.5, 1e-5);
  EXPECT_GT(max_abs_diff(slices.select(0, 2), slices.select(0, 5)), 0.05);
  // Slice 0 of a stack is what the unbatched algorithm makes from the same first normals.
  mg::Generator a(9), b(9);
  auto stacked = init::orthogonal_(mg::empty({3, 5, 8}, mg::kFloat64), 1.0, 1, &a);
  auto single = init::orthogonal_(mg::empty({5, 8}, mg::kFloat64), 1.0, 0, &b);
  expect_close(stacked.select(0, 0), single, 1e-12, 0);
}
