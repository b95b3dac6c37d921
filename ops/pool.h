#pragma once
// 2-D pooling over the last two dims of [N, C, H, W] or [C, H, W] tensors, as in PyTorch:
//
//   auto y = mg::max_pool2d(x, 2);                                   // 2x2 windows, stride 2
//   auto [z, idx] = mg::max_pool2d_with_indices(x, 3, {.stride = 2, .padding = 1});
//   auto a = mg::avg_pool2d(x, {3, 2}, {.stride = {2, 1}, .ceil_mode = true});
//   auto g = mg::adaptive_avg_pool2d(x, 1);                          // global average
//
// Window parameters take one number for both dims or {height, width}, as the conv options do.
// The output size along a dim of size L is
//   floor_or_ceil((L + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1,
// rounded up with ceil_mode, where a last window that would start in the right padding is
// dropped. All pools are differentiable in their input.
#include <cstdint>
#include <optional>
#include <utility>

#include "core/tensor.h"
#include "ops/conv.h"

namespace mixgrad {

// A pooling stride: unset (the default) means "equal to kernel_size", as in PyTorch.
struct PoolStride {
  std::optional<SpatialSize<2>> value;

  constexpr PoolStride() = default;
  constexpr PoolStride(int64_t v) : value(v) {}  // NOLINT(google-explicit-constructor): .stride = 2
  constexpr PoolStride(int64_t h, int64_t w)     // NOLINT: .stride = {2, 1}
      : value(SpatialSize<2>(h, w)) {}
  constexpr PoolStride(SpatialSize<2> v) : value(v) {}  // NOLINT
};

// Options of max_pool2d, filled with designated initializers.
struct MaxPool2dOptions {
  PoolStride stride = {};
  SpatialSize<2> padding = 0;  // implicit -inf padding on both sides, at most kernel / 2
  SpatialSize<2> dilation = 1;
  bool ceil_mode = false;
};

// Options of avg_pool2d, filled with designated initializers.
struct AvgPool2dOptions {
  PoolStride stride = {};
  SpatialSize<2> padding = 0;  // implicit zero padding on both sides, at most kernel / 2
  bool ceil_mode = false;
  // Whether padded positions count in a window's divisor.
  bool count_include_pad = true;
  // Divides every window sum by this instead (must not be 0).
  std::optional<int64_t> divisor_override = std::nullopt;
};

// Maximum over each window. NaN propagates: a window holding NaN gives NaN. Float, double,
// int32 and int64 inputs (integer outputs carry no gradient). The backward routes each output's
// gradient to the position its maximum came from (the first one on ties).
// Throws Error for a rank other than 3 or 4, an empty channel or spatial dim, a non-positive
// kernel_size / stride / dilation, padding negative or above kernel_size / 2, an output size
// below 1, or a bool input.
Tensor max_pool2d(const Tensor& input, SpatialSize<2> kernel_size,
                  const MaxPool2dOptions& options = {});
// max_pool2d and the position of each maximum (int64, the output's shape) as the flat index
// h * W + w within its H x W input plane, as PyTorch's return_indices gives it.
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, SpatialSize<2> kernel_size,
                                                  const MaxPool2dOptions& options = {});

// Mean over each window (see AvgPool2dOptions for the divisor). Floating inputs only.
// Throws Error as max_pool2d does (without dilation), for a non-floating input, and for a
// divisor_override of 0.
Tensor avg_pool2d(const Tensor& input, SpatialSize<2> kernel_size,
                  const AvgPool2dOptions& options = {});

// Mean over output_size (height, width) windows that tile the input as PyTorch's do: output row
// i averages input rows [floor(i * H / out_h), ceil((i + 1) * H / out_h)), columns likewise.
// Floating inputs only. Throws Error for a rank other than 3 or 4, an empty channel or spatial
// dim, a non-positive output size, or a non-floating input.
Tensor adaptive_avg_pool2d(const Tensor& input, SpatialSize<2> output_size);

}  // namespace mixgrad
