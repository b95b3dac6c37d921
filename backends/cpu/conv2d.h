#pragma once
// The paths of the CPU conv2d kernel (backends/cpu/conv2d.cpp picks one; private to the CPU
// backend). The general path is the im2col + GEMM convolution of backends/conv_im2col.h; these
// are the CPU's own.
#include <cstdint>

#include "backends/kernels.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace mixgrad::cpu {

// Direct convolution, stride 1 and one group (geometry's strides must be 1), in
// backends/cpu/conv.cpp: overwrites contiguous out [N, O, out_h, out_w] with input [N, C, H, W]
// (contiguous) convolved with weight [O, C * kh * kw] (contiguous), plus bias [O] when defined.
// For few output channels on wide planes, where im2col's columns cost more than the multiply-adds.
void conv2d_direct(const Tensor& out, const Tensor& input, const Tensor& weight, const Tensor& bias,
                   const kernels::ConvGeometry& geometry);
// conv2d_direct's weight gradient: overwrites contiguous grad_weight [O, C, kh, kw] from
// contiguous grad_out [N, O, out_h, out_w] and input [N, C, H, W] (N > 0).
void conv2d_direct_weight_grad(const Tensor& grad_weight, const Tensor& grad_out,
                               const Tensor& input, const kernels::ConvGeometry& geometry);

// Winograd F(2x2, 3x3) of Lavin & Gray (2016), backends/cpu/conv_winograd.cpp: each 2 x 2 block
// of outputs costs 16 multiply-adds per (input, output) channel pair instead of im2col + GEMM's
// 36, at the price of transforming the input, weight and output tiles (kernels::winograd).
//
// Whether a convolution runs through it: float32 / float64, 3x3 kernels of stride 1 and
// dilation 1, and enough channels per group on both sides that the tile GEMMs are worth their
// transforms.
bool use_winograd(DType dtype, int64_t group_channels, int64_t group_out_channels,
                  const kernels::ConvGeometry& geometry);
// kernels::conv2d's forward (contiguous operands, weight [O, C / groups, 3, 3]).
void winograd_conv2d(const Tensor& out, const Tensor& input, const Tensor& weight,
                     const Tensor& bias, const kernels::ConvGeometry& geometry, int64_t groups);
// Overwrites grad_input [N, C, H, W] (when defined; needs `weight`) and grad_weight
// [O, C / groups, 3, 3] (when defined; needs `input`) from contiguous grad_out
// [N, O, out_h, out_w] of a non-empty batch.
void winograd_conv2d_backward(const Tensor& grad_input, const Tensor& grad_weight,
                              const Tensor& grad_out, const Tensor& input, const Tensor& weight,
                              const kernels::ConvGeometry& geometry, int64_t groups);

}  // namespace mixgrad::cpu
