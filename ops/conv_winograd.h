#pragma once
// conv2d's Winograd path (internal to ops/conv.cpp): F(2x2, 3x3) of Lavin & Gray (2016). Each
// 2 x 2 block of outputs costs 16 multiply-adds per (input, output) channel pair instead of
// im2col + GEMM's 36, at the price of transforming the input, weight and output tiles
// (kernels::winograd). CPU-only.
#include "backends/kernels.h"
#include "core/tensor.h"

namespace mixgrad::conv_detail {

// Whether conv2d of `input` by `weight` (already checked) runs through Winograd: on the CPU,
// float32 / float64, 3x3 kernels of stride 1 and dilation 1, and enough channels per group on
// both sides that the tile GEMMs are worth their transforms.
bool use_winograd(const Tensor& input, const Tensor& weight, const kernels::ConvGeometry& geometry,
                  int64_t groups);

// out [N, O, out_h, out_w] of contiguous input [N, C, H, W] and weight [O, C / groups, 3, 3],
// plus bias [O] when it is defined.
Tensor winograd_conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                       const kernels::ConvGeometry& geometry, int64_t groups);

// Overwrites grad_input [N, C, H, W] (when defined; needs `weight`) and grad_weight
// [O, C / groups, 3, 3] (when defined; needs `input`) from contiguous grad_out
// [N, O, out_h, out_w].
void winograd_conv2d_backward(const Tensor& grad_out, const Tensor& input, const Tensor& weight,
                              const Tensor& grad_input, const Tensor& grad_weight,
                              const kernels::ConvGeometry& geometry, int64_t groups);

}  // namespace mixgrad::conv_detail
