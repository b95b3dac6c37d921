#pragma once
// Convolutions (cross-correlation, as PyTorch) on NCHW / NCL tensors: conv2d and conv1d.
//
//   auto y = mg::conv2d(x, w, b, {.stride = 2, .padding = 1});
//   auto z = mg::conv2d(x, w, {}, {.stride = {1, 2}, .padding = {0, 1}, .dilation = 2});
//   auto s = mg::conv2d(x, w, b, {.padding = mg::Padding::Same});   // output size = input size
//   auto t = mg::conv1d(x1, w1, {}, {.padding = 2, .groups = 4});
//
// Every window parameter takes one number for all spatial dims or one per dim (height, width).
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/tensor.h"

namespace mixgrad {

// One value per spatial dim (height, width for 2-D); a single number applies to every dim.
template <std::size_t N>
struct SpatialSize {
  std::array<int64_t, N> values;

  constexpr SpatialSize(int64_t v) {  // NOLINT(google-explicit-constructor): .stride = 2
    values.fill(v);
  }
  constexpr SpatialSize(int64_t h, int64_t w)  // NOLINT: .stride = {2, 1}
      requires(N == 2)
      : values{h, w} {}
  constexpr int64_t operator[](std::size_t i) const { return values[i]; }
  bool operator==(const SpatialSize&) const = default;
};

// PyTorch's string paddings. Same: the output has the input's size (stride 1 only); the total
// padding dilation * (kernel - 1) is split evenly, the odd element going to the bottom / right.
// Valid: no padding.
enum class Padding { Same, Valid };

// Explicit zero padding on both sides of each spatial dim, or Same / Valid.
template <std::size_t N>
struct ConvPadding {
  SpatialSize<N> amount = 0;
  std::optional<Padding> mode;  // set for Same / Valid (then `amount` is unused)

  constexpr ConvPadding(int64_t v) : amount(v) {}  // NOLINT: .padding = 1
  constexpr ConvPadding(int64_t h, int64_t w)      // NOLINT: .padding = {1, 2}
      requires(N == 2)
      : amount(h, w) {}
  constexpr ConvPadding(SpatialSize<N> v) : amount(v) {}  // NOLINT
  constexpr ConvPadding(Padding m) : mode(m) {}           // NOLINT: .padding = Padding::Same
};

// Window parameters of an N-d convolution, filled with designated initializers.
template <std::size_t N>
struct ConvOptions {
  SpatialSize<N> stride = 1;
  ConvPadding<N> padding = 0;
  SpatialSize<N> dilation = 1;
  int64_t groups = 1;
};
using Conv1dOptions = ConvOptions<1>;
using Conv2dOptions = ConvOptions<2>;

// 2-D convolution: input [N, C, H, W], weight [O, C / groups, kH, kW], optional bias [O]
// (an undefined Tensor means none) -> [N, O, H_out, W_out] (an unbatched input [C, H, W] gives
// [O, H_out, W_out]) with
//   H_out = (H + pad_top + pad_bottom - dilation_h * (kH - 1) - 1) / stride_h + 1.
// Input and output channels are split into `groups` groups, output group g seeing only input
// group g (groups == C == O is a depthwise convolution). Float32 or float64; differentiable in
// input, weight and bias. Throws Error for wrong ranks, a channel count that does not match
// weight * groups, groups not dividing C or O, non-positive stride / dilation / groups,
// negative padding, a (dilated) kernel larger than the padded input, Same with a stride other
// than 1, dtypes or devices that differ between input, weight and bias, a non-floating dtype,
// or a bias that is not [O].
// On the CPU, 3x3 kernels of stride 1 and dilation 1 with >= 8 input and >= 16 output channels
// per group run through Winograd F(2x2, 3x3) (as cuDNN and NNPACK do): results differ
// from im2col + GEMM by rounding, a NaN reaches exactly the outputs whose windows hold it, but an
// Inf may give NaN instead of +-Inf there (the transforms add and subtract it).
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dOptions& options = {});

// 1-D convolution: input [N, C, L] (or unbatched [C, L]), weight [O, C / groups, K], optional
// bias [O] -> [N, O, L_out] (or [O, L_out]); otherwise as conv2d (runs through the same kernels as
// a height-1 conv2d).
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv1dOptions& options = {});

}  // namespace mixgrad
