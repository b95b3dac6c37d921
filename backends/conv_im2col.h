#pragma once
// A convolution as im2col + GEMM, written against the kernel table (kernels::im2col, gemm,
// col2im, copy, binary), so that every backend with those kernels runs it: the CPU backend as its
// general path (backends/cpu/conv2d.cpp), the CUDA backend as its conv2d kernel. The contracts
// are kernels::conv2d's and kernels::conv2d_backward's; a backend tunes the chunking and the
// host-side choices through Im2colConvTuning.
//
// The batch is processed in chunks whose columns fit one reused buffer of about columns_budget
// elements. The columns of a chunk are laid out [C * kh * kw, chunk * L] (L = out_h * out_w), so
// that:
//   forward      out[n, group]    = W[group] @ columns[group rows, sample n]   (one batched GEMM
//                                   per group, reading the columns in place)
//   grad input   columns[.., n]   = W[group]^T @ grad_out[n, group], then col2im
//   grad weight  dW[group]       += grad_out^T[group] [O/G, chunk * L] @ columns^T: a single
//                                   GEMM over the whole chunk (grad_out is transposed once)
// Small output planes (L < wide_plane) make per-sample GEMMs too narrow (BLAS would repack W for
// every few columns), so there the forward and input gradient also run as one GEMM over the
// chunk's width, through the transposed grad_out / a transposed output scratch.
// A 1x1 kernel with stride 1 and no padding needs no columns for the per-sample forward and
// input gradient: the input itself is the columns matrix of each sample.
// When the whole batch is one chunk of the chunk-wide path, the forward's columns can be kept for
// the weight gradient instead of being rebuilt (conv2d's keep_for_weight_grad).
#include <cstdint>

#include "backends/kernels.h"
#include "core/tensor.h"

namespace mixgrad::kernels {

// How a backend runs the im2col + GEMM convolution.
struct Im2colConvTuning {
  // Elements of the reused columns buffer.
  int64_t columns_budget = int64_t{1} << 20;
  // Output planes below this many positions use chunk-wide GEMMs.
  int64_t wide_plane = 256;
  // Host threads: a batch whose chunks hold one sample each is split among mixgrad's threads
  // (core/parallel.h) by whole samples, each thread running im2col, the GEMMs and col2im
  // single-threaded with its own columns buffer (for a backend whose kernels run on the caller's
  // threads, the CPU).
  bool split_samples = false;
  // Weight-gradient GEMMs at least this deep (columns per chunk) with at least
  // transposed_weight_grad_channels output channels per group accumulate dW^T instead of dW
  // (0: never).
  int64_t transposed_weight_grad_depth = 0;
  int64_t transposed_weight_grad_channels = 0;
};

// kernels::conv2d through im2col + GEMM; `bias` contiguous [O] or undefined.
Tensor conv2d_im2col(const Im2colConvTuning& tuning, const Tensor& out, const Tensor& input,
                     const Tensor& weight, const Tensor& bias, const ConvGeometry& geometry,
                     int64_t groups, bool keep_for_weight_grad);

// kernels::conv2d_backward through GEMM + col2im, `saved` what conv2d_im2col returned.
void conv2d_im2col_backward(const Im2colConvTuning& tuning, const Tensor& grad_input,
                            const Tensor& grad_weight, const Tensor& grad_out, const Tensor& input,
                            const Tensor& weight, const Tensor& saved, const ConvGeometry& geometry,
                            int64_t groups);

}  // namespace mixgrad::kernels
