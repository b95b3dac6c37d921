#include "nn/init.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <numeric>
#include <utility>
#include <vector>

#include "core/grad_mode.h"
#include "ops/ops.h"

namespace mixgrad::nn::init {

namespace {

constexpr std::array<std::pair<const char*, Nonlinearity>, 12> kNonlinearityNames = {{
    {"linear", Nonlinearity::Linear},
    {"conv1d", Nonlinearity::Conv1d},
    {"conv2d", Nonlinearity::Conv2d},
    {"conv3d", Nonlinearity::Conv3d},
    {"conv_transpose1d", Nonlinearity::ConvTranspose1d},
    {"conv_transpose2d", Nonlinearity::ConvTranspose2d},
    {"conv_transpose3d", Nonlinearity::ConvTranspose3d},
    {"sigmoid", Nonlinearity::Sigmoid},
    {"tanh", Nonlinearity::Tanh},
    {"relu", Nonlinearity::Relu},
    {"leaky_relu", Nonlinearity::LeakyRelu},
    {"selu", Nonlinearity::Selu},
}};

void check_floating(const Tensor& t, const char* op) {
  MG_CHECK(t.is_floating_point(), op, "expected a floating tensor, got ", describe(t));
}

int64_t product(const Shape& shape, size_t begin, size_t end) {
  return std::accumulate(shape.begin() + begin, shape.begin() + end, int64_t{1},
                         std::multiplies<>());
}

// Number of leading dims that index matrices; throws unless at least 2 dims remain.
size_t checked_batch_dims(const Tensor& t, int64_t batch_dims, const char* op) {
  MG_CHECK(batch_dims >= 0, op, "batch_dims must be non-negative, got ", batch_dims);
  MG_CHECK(t.dim() - batch_dims >= 2, op, "tensor of shape ", t.shape(),
           " has fewer than 2 dimensions after its ", batch_dims,
           " batch dims: a weight matrix needs 2");
  return static_cast<size_t>(batch_dims);
}

Fans fans_for(const Tensor& t, WeightLayout layout, const char* op) {
  const size_t b = checked_batch_dims(t, layout.batch_dims, op);
  const Shape& s = t.shape();
  if (layout.order == MatrixOrder::InOut) {
    MG_CHECK(t.dim() - layout.batch_dims == 2, op,
             "MatrixOrder::InOut needs exactly [in, out] after the batch dims, got shape ",
             t.shape(), " with ", layout.batch_dims, " batch dims");
    return {s[b], s[b + 1]};
  }
  const int64_t receptive = product(s, b + 2, s.size());
  return {s[b + 1] * receptive, s[b] * receptive};
}

// Writes `values` into t without recording, and returns t.
Tensor assign(const Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  Tensor self = t;
  copy_(self, values);
  return t;
}

Tensor uniform_impl(const Tensor& t, double a, double b, Generator* gen, const char* op) {
  check_floating(t, op);
  MG_CHECK(a <= b, op, "expects a range [a, b) with a <= b, got a = ", a, ", b = ", b);
  return assign(t, rand(t.shape(), options_of(t), gen) * (b - a) + a);
}

Tensor normal_impl(const Tensor& t, double mean, double std, Generator* gen, const char* op) {
  check_floating(t, op);
  MG_CHECK(std >= 0, op, "standard deviation must be non-negative, got ", std);
  return assign(t, randn(t.shape(), options_of(t), gen) * std + mean);
}

double xavier_std(const Tensor& t, double gain, WeightLayout layout, const char* op) {
  check_floating(t, op);
  const Fans f = fans_for(t, layout, op);
  return gain * std::sqrt(2.0 / static_cast<double>(f.fan_in + f.fan_out));
}

double kaiming_std(const Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity,
                   WeightLayout layout, const char* op) {
  check_floating(t, op);
  const Fans f = fans_for(t, layout, op);
  const int64_t fan = mode == FanMode::FanIn ? f.fan_in : f.fan_out;
  return calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
}

// Householder QR of the m x n (m >= n) matrix whose column j is cols[j * m, (j + 1) * m).
// Overwrites `cols` with the thin Q (same column-major layout), its column j multiplied by the
// sign of R[j][j], so that R's diagonal is positive as in PyTorch's orthogonal_.
void signed_householder_q(std::vector<double>& cols, int64_t m, int64_t n) {
  std::vector<double> reflectors(cols.size(), 0.0);  // v_k in rows k..m-1 of column k
  std::vector<double> v_norm2(n, 0.0);               // |v_k|^2; 0 means no reflection
  std::vector<double> r_sign(n, 1.0);
  auto reflect = [m](const double* v, double norm2, double* x, int64_t from) {
    double dot = 0;
    for (int64_t i = from; i < m; ++i) dot += v[i] * x[i];
    const double f = 2 * dot / norm2;
    for (int64_t i = from; i < m; ++i) x[i] -= f * v[i];
  };
  for (int64_t k = 0; k < n; ++k) {
    double* x = &cols[k * m];
    double norm2 = 0;
    for (int64_t i = k; i < m; ++i) norm2 += x[i] * x[i];
    if (norm2 == 0) continue;  // a zero column (probability 0): leave it, R[k][k] = 0 -> +1
    // H x = alpha e_k with alpha of the sign opposite to x[k], which avoids cancellation.
    const double alpha = x[k] >= 0 ? -std::sqrt(norm2) : std::sqrt(norm2);
    double* v = &reflectors[k * m];
    for (int64_t i = k; i < m; ++i) v[i] = x[i];
    v[k] -= alpha;
    for (int64_t i = k; i < m; ++i) v_norm2[k] += v[i] * v[i];
    for (int64_t j = k; j < n; ++j) reflect(v, v_norm2[k], &cols[j * m], k);
    r_sign[k] = alpha >= 0 ? 1.0 : -1.0;
  }
  // Q = H_0 H_1 ... H_{n-1} applied to the first n columns of the identity.
  std::fill(cols.begin(), cols.end(), 0.0);
  for (int64_t j = 0; j < n; ++j) cols[j * m + j] = 1.0;
  for (int64_t k = n - 1; k >= 0; --k) {
    if (v_norm2[k] == 0) continue;
    for (int64_t j = 0; j < n; ++j) reflect(&reflectors[k * m], v_norm2[k], &cols[j * m], k);
  }
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) cols[j * m + i] *= r_sign[j];
}

// Replaces the row-major rows x cols matrix `a` with the orthogonal factor of its tall
// orientation (a itself when rows >= cols, else a^T), transposed back to rows x cols.
void orthogonalize(double* a, int64_t rows, int64_t cols) {
  const bool tall = rows >= cols;
  const int64_t m = tall ? rows : cols, n = tall ? cols : rows;
  // Column j of the tall matrix: a[:, j] when tall, else row j of a (already contiguous).
  std::vector<double> work(m * n);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) work[j * m + i] = tall ? a[i * cols + j] : a[j * cols + i];
  signed_householder_q(work, m, n);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) (tall ? a[i * cols + j] : a[j * cols + i]) = work[j * m + i];
}

}  // namespace

Nonlinearity parse_nonlinearity(const std::string& name) {
  std::string valid;
  for (const auto& [n, value] : kNonlinearityNames) {
    if (name == n) return value;
    valid += valid.empty() ? n : std::string(", ") + n;
  }
  throw Error("parse_nonlinearity",
              "unknown nonlinearity '" + name + "'; expected one of " + valid);
}

FanMode parse_fan_mode(const std::string& name) {
  if (name == "fan_in") return FanMode::FanIn;
  if (name == "fan_out") return FanMode::FanOut;
  throw Error("parse_fan_mode", "mode '" + name + "' not supported; use fan_in or fan_out");
}

double calculate_gain(Nonlinearity nonlinearity, std::optional<double> param) {
  switch (nonlinearity) {
    case Nonlinearity::Tanh:
      return 5.0 / 3.0;
    case Nonlinearity::Relu:
      return std::sqrt(2.0);
    case Nonlinearity::LeakyRelu: {
      const double slope = param.value_or(0.01);
      return std::sqrt(2.0 / (1.0 + slope * slope));
    }
    case Nonlinearity::Selu:
      return 3.0 / 4.0;
    default:  // linear, conv and sigmoid
      return 1.0;
  }
}

Fans fan_in_and_fan_out(const Tensor& t, WeightLayout layout) {
  return fans_for(t, layout, "fan_in_and_fan_out");
}

Tensor uniform_(const Tensor& t, double a, double b, Generator* gen) {
  return uniform_impl(t, a, b, gen, "uniform_");
}

Tensor normal_(const Tensor& t, double mean, double std, Generator* gen) {
  return normal_impl(t, mean, std, gen, "normal_");
}

Tensor constant_(const Tensor& t, Scalar value) {
  NoGradGuard no_grad;
  Tensor self = t;
  self.fill_(value);
  return t;
}

Tensor zeros_(const Tensor& t) {
  return constant_(t, 0);
}

Tensor ones_(const Tensor& t) {
  return constant_(t, 1);
}

// The fan-based initialisers check their arguments even for an empty tensor, then leave it
// alone (its fans may be 0, and 1 / sqrt(0) is no bound).
Tensor xavier_uniform_(const Tensor& t, double gain, WeightLayout layout, Generator* gen) {
  const char* op = "xavier_uniform_";
  const double bound = std::sqrt(3.0) * xavier_std(t, gain, layout, op);
  return t.numel() == 0 ? t : uniform_impl(t, -bound, bound, gen, op);
}

Tensor xavier_normal_(const Tensor& t, double gain, WeightLayout layout, Generator* gen) {
  const char* op = "xavier_normal_";
  const double std = xavier_std(t, gain, layout, op);
  return t.numel() == 0 ? t : normal_impl(t, 0, std, gen, op);
}

Tensor kaiming_uniform_(const Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity,
                        WeightLayout layout, Generator* gen) {
  const char* op = "kaiming_uniform_";
  const double bound = std::sqrt(3.0) * kaiming_std(t, a, mode, nonlinearity, layout, op);
  return t.numel() == 0 ? t : uniform_impl(t, -bound, bound, gen, op);
}

Tensor kaiming_normal_(const Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity,
                       WeightLayout layout, Generator* gen) {
  const char* op = "kaiming_normal_";
  const double std = kaiming_std(t, a, mode, nonlinearity, layout, op);
  return t.numel() == 0 ? t : normal_impl(t, 0, std, gen, op);
}

Tensor orthogonal_(const Tensor& t, double gain, int64_t batch_dims, Generator* gen) {
  const char* op = "orthogonal_";
  check_floating(t, op);
  const size_t b = checked_batch_dims(t, batch_dims, op);
  if (t.numel() == 0) return t;
  const Shape& s = t.shape();
  const int64_t matrices = product(s, 0, b), rows = s[b], cols = product(s, b + 1, s.size());
  Tensor values = randn({matrices, rows, cols}, kFloat64, gen);
  double* data = values.data<double>().data();
  for (int64_t e = 0; e < matrices; ++e) orthogonalize(data + e * rows * cols, rows, cols);
  return assign(t, (values * gain).view(s).to(t.device()));
}

Tensor fan_in_uniform(const Shape& shape, int64_t fan_in, TensorOptions options) {
  MG_CHECK(fan_in >= 1, "init::fan_in_uniform", "fan_in must be positive, got ", fan_in);
  options.requires_grad_ = false;  // a fresh leaf; registration decides about gradients
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return empty(shape, options).uniform_(-bound, bound);  // fills in place
}

}  // namespace mixgrad::nn::init
