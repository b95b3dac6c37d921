#pragma once
// Parameter initialisers with torch.nn.init semantics. Each writes into `t` in place without
// recording a gradient (so it works on leaves that require grad, and on views of them), draws
// from `gen` (default: the global generator, see manual_seed()) and returns `t`.
//
//   auto w = mg::empty({out, in}).requires_grad_();
//   init::kaiming_uniform_(w, std::sqrt(5.0));  // what PyTorch's Linear does
//
// Stacked weights. The fan-based initialisers take a WeightLayout saying which dims hold the
// weight matrices. Mixture-of-Experts code stacks one matrix per expert and multiplies as
// x @ W[e]; each expert must be initialised with the fans of its own matrix, not of the stack:
//
//   auto w_up = mg::empty({num_experts, d_model, d_ff});  // [E, in, out]
//   init::xavier_uniform_(w_up, 1.0, {.batch_dims = 1, .order = init::MatrixOrder::InOut});
//   // every w_up[e] gets fan_in = d_model, fan_out = d_ff
//   init::orthogonal_(w_up, 1.0, /*batch_dims=*/1);  // every w_up[e] orthogonal on its own
#include <cstdint>
#include <optional>
#include <string>

#include "core/generator.h"
#include "core/scalar.h"
#include "core/tensor.h"
#include "ops/creation.h"

namespace mixgrad::nn::init {

// The activation a layer feeds, for calculate_gain.
enum class Nonlinearity {
  Linear,
  Conv1d,
  Conv2d,
  Conv3d,
  ConvTranspose1d,
  ConvTranspose2d,
  ConvTranspose3d,
  Sigmoid,
  Tanh,
  Relu,
  LeakyRelu,
  Selu,
};

// Which fan the Kaiming initialisers preserve the variance of: FanIn the forward pass, FanOut
// the backward pass.
enum class FanMode { FanIn, FanOut };

// How a weight matrix stores its dims.
enum class MatrixOrder {
  OutIn,  // [out, in, *receptive]: PyTorch's Linear and conv weights (y = x W^T)
  InOut,  // [in, out]: weights used as y = x @ W, e.g. stacked expert weights [E, in, out]
};

// Which dims of a tensor hold weight matrices. The first `batch_dims` dims index independent
// matrices, whose fans come from the remaining dims alone; the default is one PyTorch-layout
// matrix. OutIn allows receptive-field dims after [out, in]; InOut needs exactly [in, out].
struct WeightLayout {
  int64_t batch_dims = 0;
  MatrixOrder order = MatrixOrder::OutIn;
};

struct Fans {
  int64_t fan_in = 0;
  int64_t fan_out = 0;
};

// PyTorch's names: "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
// "conv_transpose2d", "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu".
// Throws Error naming the unknown name and the valid ones.
Nonlinearity parse_nonlinearity(const std::string& name);
// "fan_in" or "fan_out"; throws Error otherwise.
FanMode parse_fan_mode(const std::string& name);

// The recommended gain for `nonlinearity`: 1 for linear, conv and sigmoid, 5/3 for tanh,
// sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu (param = negative slope, default
// 0.01) and 3/4 for selu. `param` is ignored by the others.
double calculate_gain(Nonlinearity nonlinearity, std::optional<double> param = std::nullopt);

// Fans of one weight matrix of `t` under `layout`. OutIn [out, in, k...]: fan_in = in * prod(k),
// fan_out = out * prod(k). InOut [in, out]: fan_in = in, fan_out = out. Throws Error if fewer
// than 2 dims remain after the batch dims, batch_dims is negative, or InOut has more than 2.
Fans fan_in_and_fan_out(const Tensor& t, WeightLayout layout = {});

// A new tensor of `shape` drawn uniformly in +-1/sqrt(fan_in) from the global generator:
// PyTorch's default for Linear weights and biases (kaiming_uniform with a = sqrt(5) comes to
// that bound), and what mixgrad's layers and stacked experts start from. It does not require
// grad: register it as a parameter. Throws Error for fan_in < 1 or a non-floating dtype.
Tensor fan_in_uniform(const Shape& shape, int64_t fan_in, TensorOptions options = {});

// Uniform in [a, b). Throws Error for a > b or a non-floating tensor.
Tensor uniform_(const Tensor& t, double a = 0, double b = 1, Generator* gen = nullptr);
// Normal with the given mean and standard deviation. Throws Error for std < 0 or a non-floating
// tensor.
Tensor normal_(const Tensor& t, double mean = 0, double std = 1, Generator* gen = nullptr);
// Fills with `value` (any dtype).
Tensor constant_(const Tensor& t, Scalar value);
Tensor zeros_(const Tensor& t);
Tensor ones_(const Tensor& t);

// Glorot: uniform in +-gain * sqrt(6 / (fan_in + fan_out)), or normal with standard deviation
// gain * sqrt(2 / (fan_in + fan_out)). Throws Error as fan_in_and_fan_out, or for a
// non-floating tensor.
Tensor xavier_uniform_(const Tensor& t, double gain = 1.0, WeightLayout layout = {},
                       Generator* gen = nullptr);
Tensor xavier_normal_(const Tensor& t, double gain = 1.0, WeightLayout layout = {},
                      Generator* gen = nullptr);

// He: standard deviation gain / sqrt(fan) with gain = calculate_gain(nonlinearity, a) and fan
// chosen by `mode`; uniform in +-sqrt(3) * std, or normal. `a` is the negative slope of a
// leaky_relu. Throws Error as fan_in_and_fan_out, or for a non-floating tensor.
Tensor kaiming_uniform_(const Tensor& t, double a = 0, FanMode mode = FanMode::FanIn,
                        Nonlinearity nonlinearity = Nonlinearity::LeakyRelu,
                        WeightLayout layout = {}, Generator* gen = nullptr);
Tensor kaiming_normal_(const Tensor& t, double a = 0, FanMode mode = FanMode::FanIn,
                       Nonlinearity nonlinearity = Nonlinearity::LeakyRelu,
                       WeightLayout layout = {}, Generator* gen = nullptr);

// A (semi-)orthogonal matrix times `gain`, by PyTorch's algorithm: each matrix is flattened to
// [rows = size(0), cols = the rest], filled with standard normals (drawn in float64), and
// replaced by the Q of the QR decomposition of its tall orientation, with Q's columns signed so
// that R has a positive diagonal (which makes the result unique and Haar-distributed).
// rows <= cols gives orthonormal rows, rows >= cols orthonormal columns. The first `batch_dims`
// dims index independent matrices (experts); the [out, in] / [in, out] order does not matter,
// as a matrix is orthogonal exactly when its transpose is. Throws Error if fewer than 2 dims
// remain after the batch dims, or for a non-floating tensor.
Tensor orthogonal_(const Tensor& t, double gain = 1.0, int64_t batch_dims = 0,
                   Generator* gen = nullptr);

}  // namespace mixgrad::nn::init
