// The CPU conv2d kernel (kernels::conv2d, kernels::conv2d_backward): picks one of three paths
// and tunes the im2col + GEMM one for this machine's caches and threads.
//   Winograd F(2x2, 3x3)  3x3 kernels of stride 1 with enough channels per group on both sides
//                         (backends/cpu/conv_winograd.cpp)
//   sliding window        few output channels on wide rows: conv2d_direct and its weight
//                         gradient, no columns at all (the input gradient through GEMM + col2im)
//   im2col + GEMM         everything else (backends/conv_im2col.h), with chunking for the caches,
//                         the batch split among the threads by whole samples, and a transposed
//                         weight gradient for deep products
// The backward takes the forward's path again: the choice depends only on the dtype, the channel
// counts, the geometry and the groups.
#include "backends/cpu/conv2d.h"

#include "backends/conv_im2col.h"
#include "backends/cpu/kernels.h"
#include "core/strided_view.h"

namespace mixgrad::cpu {

namespace {

constexpr kernels::Im2colConvTuning kTuning{
    // Elements of the reused columns buffer (4 MiB of float32): large enough that GEMMs see
    // several samples at once; small enough to stay mostly in cache between im2col and its GEMMs
    // (measured: the ResNet block's forward + backward ran ~25% faster than with 16 MiB).
    .columns_budget = int64_t{1} << 20,
    // Output planes below this many positions use chunk-wide GEMMs (measured on the CIFAR CNN's
    // 10x10 planes: per-sample GEMMs spent as long packing W as multiplying).
    .wide_plane = 256,
    // One parallel job per pass instead of one per GEMM and per im2col / col2im of every sample.
    .split_samples = true,
    // The weight gradient accumulates transposed, in dW^T [rows / G, O], when the GEMMs are
    // deep enough: OpenBLAS then packs the columns matrix as its B operand, reading each row in
    // order, where for dW itself it packs the columns as a transposed A, 16 rows at a 4 KiB
    // stride at a time (measured, 1 thread: the ResNet block's 64 x 576 x 1024 product 1.58 ->
    // 1.17 ms, the CIFAR CNN's 16 x 150 x 6400 0.74 -> 0.57 ms; at depth 64, 256 x 2304 lost
    // 17%). Few output channels are left alone: at 2 threads OpenBLAS splits the transposed
    // product's O rows, and the CIFAR one went 0.35 -> 0.47 ms.
    .transposed_weight_grad_depth = 128,
    .transposed_weight_grad_channels = 32,
};

enum class ConvPath { Im2col, Sliding, Winograd };

// Whether the direct kernels beat im2col + GEMM: few output channels on wide rows, where the
// columns matrix is kh * kw times the input and each of its elements feeds only a few output
// channels, so building it costs more than the multiply-adds it serves (the CIFAR CNN's first
// conv, 3 -> 6 channels 5x5 on 32x32: forward + weight gradient ~3x faster).
bool use_sliding(int64_t out_channels, const kernels::ConvGeometry& geo, int64_t groups) {
  return groups == 1 && geo.stride_h == 1 && geo.stride_w == 1 && out_channels <= 8 &&
         geo.kernel_h * geo.kernel_w > 1 && geo.out_w >= 16;
}

ConvPath choose_path(DType dtype, int64_t channels, int64_t out_channels,
                     const kernels::ConvGeometry& geo, int64_t groups) {
  if (use_winograd(dtype, channels / groups, out_channels / groups, geo)) return ConvPath::Winograd;
  if (use_sliding(out_channels, geo, groups)) return ConvPath::Sliding;
  return ConvPath::Im2col;
}

}  // namespace

Tensor conv2d(const Tensor& out, const Tensor& input, const Tensor& weight, const Tensor& bias,
              const kernels::ConvGeometry& geometry, int64_t groups, bool keep_for_weight_grad) {
  const int64_t out_channels = weight.size(0);
  switch (choose_path(input.dtype(), input.size(1), out_channels, geometry, groups)) {
    case ConvPath::Winograd:
      winograd_conv2d(out, input, weight, bias, geometry, groups);
      return Tensor();
    case ConvPath::Sliding:
      conv2d_direct(out, input, strided::view(weight, {out_channels, -1}), bias, geometry);
      return Tensor();
    case ConvPath::Im2col:
      break;
  }
  return kernels::conv2d_im2col(kTuning, out, input, weight, bias, geometry, groups,
                                keep_for_weight_grad);
}

void conv2d_backward(const Tensor& grad_input, const Tensor& grad_weight, const Tensor& grad_out,
                     const Tensor& input, const Tensor& weight, const Tensor& saved,
                     const kernels::ConvGeometry& geometry, int64_t groups) {
  if (!grad_input.defined() && !grad_weight.defined()) return;
  const Device device = grad_out.device();
  if (grad_out.size(0) == 0) {  // an empty batch runs no product: the weight gradient is zero
    if (grad_weight.defined()) kernels::fill(device, grad_weight, 0);
    return;
  }
  const int64_t channels = grad_input.defined() ? grad_input.size(1)
                           : input.defined()    ? input.size(1)
                                                : grad_weight.size(1) * groups;
  switch (choose_path(grad_out.dtype(), channels, grad_out.size(1), geometry, groups)) {
    case ConvPath::Winograd:
      winograd_conv2d_backward(grad_input, grad_weight, grad_out, input, weight, geometry, groups);
      return;
    case ConvPath::Sliding:
      // The input gradient stays on the GEMM path: a scattered sliding-window accumulation
      // measured twice as slow as GEMM + col2im there.
      if (grad_weight.defined()) conv2d_direct_weight_grad(grad_weight, grad_out, input, geometry);
      if (grad_input.defined())
        kernels::conv2d_im2col_backward(kTuning, grad_input, Tensor(), grad_out, Tensor(), weight,
                                        Tensor(), geometry, groups);
      return;
    case ConvPath::Im2col:
      break;
  }
  kernels::conv2d_im2col_backward(kTuning, grad_input, grad_weight, grad_out, input, weight, saved,
                                  geometry, groups);
}

}  // namespace mixgrad::cpu
