// kernels::conv2d and kernels::conv2d_backward on CUDA: the device-neutral im2col + GEMM
// convolution (backends/conv_im2col.h) over this backend's im2col, gemm, col2im, copy, binary and
// fill kernels.
#include "backends/conv_im2col.h"
#include "backends/cuda/kernels.h"

namespace mixgrad::cuda {

namespace {

// The chunking the CPU measured (a columns buffer of 2^20 elements, chunk-wide GEMMs below 256
// output positions), not tuned for the GPU yet. No sample split (the kernels are queued on the
// stream, not run on host threads) and no transposed weight gradient (an OpenBLAS packing
// matter).
constexpr kernels::Im2colConvTuning kTuning{.columns_budget = int64_t{1} << 20, .wide_plane = 256};

}  // namespace

Tensor conv2d(const Tensor& out, const Tensor& input, const Tensor& weight, const Tensor& bias,
              const kernels::ConvGeometry& geometry, int64_t groups, bool keep_for_weight_grad) {
  return kernels::conv2d_im2col(kTuning, out, input, weight, bias, geometry, groups,
                                keep_for_weight_grad);
}

void conv2d_backward(const Tensor& grad_input, const Tensor& grad_weight, const Tensor& grad_out,
                     const Tensor& input, const Tensor& weight, const Tensor& saved,
                     const kernels::ConvGeometry& geometry, int64_t groups) {
  kernels::conv2d_im2col_backward(kTuning, grad_input, grad_weight, grad_out, input, weight, saved,
                                  geometry, groups);
}

}  // namespace mixgrad::cuda
