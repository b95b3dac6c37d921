// CPU im2col / col2im: the data movement around a convolution's GEMMs.
//
// Both run in parallel over (sample, channel) planes, which own disjoint rows of the columns
// matrix (im2col) or disjoint planes of the input gradient (col2im), so threads never share a
// write. For each kernel offset the output positions whose input lies inside the image form a
// rectangle computed once, so the inner loops carry no bounds checks and run along contiguous
// memory (a plain copy / add at stride 1).
#include <algorithm>

#include "backends/cpu/kernels.h"
#include "backends/cpu/parallel.h"
#include "core/dispatch.h"

namespace mixgrad::cpu {

namespace {

// The output positions o in [begin, end) whose input position o * stride + offset lies in
// [0, size), for `out` output positions.
struct ValidRange {
  int64_t begin;
  int64_t end;
};

ValidRange valid_range(int64_t offset, int64_t stride, int64_t size, int64_t out) {
  const int64_t begin = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int64_t last = size - 1 - offset;  // largest o * stride allowed
  const int64_t end = last < 0 ? 0 : last / stride + 1;
  const int64_t b = std::min(begin, out);
  return {b, std::clamp(end, b, out)};
}

// The shape facts both kernels walk by.
struct Planes {
  int64_t batch, channels, height, width;
  int64_t out_plane;  // out_h * out_w: one sample's columns in a row of the columns matrix
  int64_t row_len;    // batch * out_plane: a row of the columns matrix
};

Planes planes_of(const Tensor& image, const kernels::ConvGeometry& g) {
  const int64_t out_plane = g.out_h * g.out_w;
  return {image.size(0), image.size(1), image.size(2),
          image.size(3), out_plane,     image.size(0) * out_plane};
}

// Calls body(n, c) for every (sample, channel) plane, in parallel when the planes hold enough
// work between them.
template <class F>
void for_each_plane(const Planes& p, const kernels::ConvGeometry& g, F&& body) {
  const int64_t work = std::max<int64_t>(1, g.kernel_h * g.kernel_w * p.out_plane);
  parallel_for(p.batch * p.channels, std::max<int64_t>(1, kGrainSize / work),
               [&](int64_t begin, int64_t end) {
                 for (int64_t plane = begin; plane < end; ++plane)
                   body(plane / p.channels, plane % p.channels);
               });
}

template <class T>
void im2col_typed(const Tensor& columns, const Tensor& input, const kernels::ConvGeometry& g) {
  const Planes p = planes_of(input, g);
  const T* in = input.data_ptr<T>();
  T* cols = columns.data_ptr<T>();
  const int64_t ow = g.out_w;
  for_each_plane(p, g, [&](int64_t n, int64_t c) {
    const T* plane = in + (n * p.channels + c) * p.height * p.width;
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      const int64_t row_offset = i * g.dilation_h - g.pad_h;
      const ValidRange ys = valid_range(row_offset, g.stride_h, p.height, g.out_h);
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const int64_t col_offset = j * g.dilation_w - g.pad_w;
        const ValidRange xs = valid_range(col_offset, g.stride_w, p.width, ow);
        T* dst = cols + ((c * g.kernel_h + i) * g.kernel_w + j) * p.row_len + n * p.out_plane;
        std::fill(dst, dst + ys.begin * ow, T(0));
        for (int64_t y = ys.begin; y < ys.end; ++y) {
          const T* src = plane + (y * g.stride_h + row_offset) * p.width + col_offset;
          T* d = dst + y * ow;
          std::fill(d, d + xs.begin, T(0));
          if (g.stride_w == 1) {
            // A plain loop: rows are often short, where a memmove call costs more than the copy.
            for (int64_t x = xs.begin; x < xs.end; ++x) d[x] = src[x];
          } else {
            for (int64_t x = xs.begin; x < xs.end; ++x) d[x] = src[x * g.stride_w];
          }
          std::fill(d + xs.end, d + ow, T(0));
        }
        std::fill(dst + ys.end * ow, dst + g.out_h * ow, T(0));
      }
    }
  });
}

template <class T>
void col2im_typed(const Tensor& grad_input, const Tensor& columns, const kernels::ConvGeometry& g) {
  const Planes p = planes_of(grad_input, g);
  T* out = grad_input.data_ptr<T>();
  const T* cols = columns.data_ptr<T>();
  const int64_t ow = g.out_w;
  for_each_plane(p, g, [&](int64_t n, int64_t c) {
    T* plane = out + (n * p.channels + c) * p.height * p.width;
    std::fill(plane, plane + p.height * p.width, T(0));
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      const int64_t row_offset = i * g.dilation_h - g.pad_h;
      const ValidRange ys = valid_range(row_offset, g.stride_h, p.height, g.out_h);
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const int64_t col_offset = j * g.dilation_w - g.pad_w;
        const ValidRange xs = valid_range(col_offset, g.stride_w, p.width, ow);
        const T* src_rows =
            cols + ((c * g.kernel_h + i) * g.kernel_w + j) * p.row_len + n * p.out_plane;
        for (int64_t y = ys.begin; y < ys.end; ++y) {
          T* dst = plane + (y * g.stride_h + row_offset) * p.width + col_offset;
          const T* src = src_rows + y * ow;
          if (g.stride_w == 1) {
            for (int64_t x = xs.begin; x < xs.end; ++x) dst[x] += src[x];
          } else {
            for (int64_t x = xs.begin; x < xs.end; ++x) dst[x * g.stride_w] += src[x];
          }
        }
      }
    }
  });
}

}  // namespace

void im2col(const Tensor& columns, const Tensor& input, const kernels::ConvGeometry& geometry) {
  if (columns.numel() == 0) return;
  dispatch_floating(input.dtype(), "im2col",
                    [&]<class T>() { im2col_typed<T>(columns, input, geometry); });
}

void col2im(const Tensor& grad_input, const Tensor& columns,
            const kernels::ConvGeometry& geometry) {
  if (grad_input.numel() == 0) return;
  dispatch_floating(grad_input.dtype(), "col2im",
                    [&]<class T>() { col2im_typed<T>(grad_input, columns, geometry); });
}

}  // namespace mixgrad::cpu
