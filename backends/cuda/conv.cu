// CUDA im2col / col2im: the data movement around a convolution's GEMMs (layouts in
// backends/kernels.h). im2col runs one thread per columns entry, so writes are coalesced along
// the output positions. col2im runs one thread per input element and gathers the columns entries
// that read it, so no two threads write the same element: no atomics, and a fixed summation order
// (kernel offsets row-major, as on the CPU) makes the result deterministic.
#include "backends/cuda/common.cuh"
#include "backends/cuda/kernels.h"

namespace mixgrad::cuda {

using kernels::ConvGeometry;

namespace {

struct ConvShape {
  int64_t batch, channels, height, width;
  ConvGeometry g;
};

ConvShape conv_shape(const Tensor& image, const ConvGeometry& g) {
  return {image.size(0), image.size(1), image.size(2), image.size(3), g};
}

template <class T>
__global__ void im2col_kernel(T* __restrict__ columns, const T* __restrict__ input, ConvShape s,
                              int64_t total) {
  const ConvGeometry& g = s.g;
  const int64_t out_plane = g.out_h * g.out_w;
  const int64_t row_len = s.batch * out_plane;
  MG_CUDA_KERNEL_LOOP(e, total) {
    const int64_t row = e / row_len, col = e - row * row_len;
    const int64_t j = row % g.kernel_w, i = row / g.kernel_w % g.kernel_h;
    const int64_t c = row / (g.kernel_w * g.kernel_h);
    const int64_t n = col / out_plane, pos = col - n * out_plane;
    const int64_t y = pos / g.out_w, x = pos - y * g.out_w;
    const int64_t h = y * g.stride_h - g.pad_h + i * g.dilation_h;
    const int64_t w = x * g.stride_w - g.pad_w + j * g.dilation_w;
    const bool inside = h >= 0 && h < s.height && w >= 0 && w < s.width;
    columns[e] = inside ? input[((n * s.channels + c) * s.height + h) * s.width + w] : T(0.0f);
  }
}

// The output positions o in [0, out) with o * stride + offset == pos for one kernel offset: at
// most one, returned as o, or -1.
__device__ inline int64_t source_position(int64_t pos, int64_t offset, int64_t stride,
                                          int64_t out) {
  const int64_t d = pos - offset;
  if (d < 0 || d % stride != 0) return -1;
  const int64_t o = d / stride;
  return o < out ? o : -1;
}

template <class T>
__global__ void col2im_kernel(T* __restrict__ grad_input, const T* __restrict__ columns,
                              ConvShape s, int64_t total) {
  using A = acc_t<T>;
  const ConvGeometry& g = s.g;
  const int64_t out_plane = g.out_h * g.out_w;
  const int64_t row_len = s.batch * out_plane;
  MG_CUDA_KERNEL_LOOP(e, total) {
    const int64_t w = e % s.width, h = e / s.width % s.height;
    const int64_t nc = e / (s.width * s.height);
    const int64_t c = nc % s.channels, n = nc / s.channels;
    const T* sample = columns + n * out_plane;
    A sum = A(0);
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      const int64_t y = source_position(h, i * g.dilation_h - g.pad_h, g.stride_h, g.out_h);
      if (y < 0) continue;
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const int64_t x = source_position(w, j * g.dilation_w - g.pad_w, g.stride_w, g.out_w);
        if (x < 0) continue;
        const int64_t row = (c * g.kernel_h + i) * g.kernel_w + j;
        sum += convert<A>(sample[row * row_len + y * g.out_w + x]);
      }
    }
    grad_input[e] = convert<T>(sum);
  }
}

}  // namespace

void im2col(const Tensor& columns, const Tensor& input, const ConvGeometry& geometry) {
  const int64_t total = columns.numel();
  if (total == 0) return;
  TensorDeviceGuard guard(columns);
  dispatch_cuda_floating(input.dtype(), "im2col", [&]<class T>() {
    im2col_kernel<T><<<blocks_for(total), kThreads, 0, stream_of(columns)>>>(
        data_of<T>(columns), data_of<const T>(input), conv_shape(input, geometry), total);
    MG_CUDA_LAUNCH_CHECK();
  });
}

void col2im(const Tensor& grad_input, const Tensor& columns, const ConvGeometry& geometry) {
  const int64_t total = grad_input.numel();
  if (total == 0) return;
  TensorDeviceGuard guard(grad_input);
  dispatch_cuda_floating(grad_input.dtype(), "col2im", [&]<class T>() {
    col2im_kernel<T><<<blocks_for(total), kThreads, 0, stream_of(grad_input)>>>(
        data_of<T>(grad_input), data_of<const T>(columns), conv_shape(grad_input, geometry), total);
    MG_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace mixgrad::cuda
