// CPU im2col / col2im: the data movement around a convolution's GEMMs.
//
// Both run in parallel over (channel, block of samples), which own disjoint rows of the columns
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

// Kernel offset `tap` (row-major over kh x kw): where its window starts relative to an output
// position, and the output rows / columns whose input lies inside the image.
struct Tap {
  int64_t row_offset, col_offset;
  ValidRange ys, xs;
};

Tap tap_window(const Planes& p, const kernels::ConvGeometry& g, int64_t tap) {
  const int64_t row_offset = tap / g.kernel_w * g.dilation_h - g.pad_h;
  const int64_t col_offset = tap % g.kernel_w * g.dilation_w - g.pad_w;
  return {row_offset, col_offset, valid_range(row_offset, g.stride_h, p.height, g.out_h),
          valid_range(col_offset, g.stride_w, p.width, g.out_w)};
}

// dst[0, len) += src[0, len). __restrict spares the vectorised loop its runtime overlap check,
// which costs as much as the work on rows as short as the CIFAR CNN's 10 positions.
template <class T>
void add_run(T* __restrict dst, const T* __restrict src, int64_t len) {
  for (int64_t x = 0; x < len; ++x) dst[x] += src[x];
}

// One output row's worth of a columns row: zeros where the window hangs over the padding, the
// input run in between.
template <class T>
void gather_row(T* dst, const T* src, ValidRange xs, int64_t width, int64_t stride) {
  std::fill(dst, dst + xs.begin, T(0));
  if (stride == 1) {
    // A plain loop: rows are often short, where a memmove call costs more than the copy.
    for (int64_t x = xs.begin; x < xs.end; ++x) dst[x] = src[x];
  } else {
    for (int64_t x = xs.begin; x < xs.end; ++x) dst[x] = src[x * stride];
  }
  std::fill(dst + xs.end, dst + width, T(0));
}

// Writes the columns of channel c for samples [n0, n1): every kernel offset's row segment.
template <class T>
void im2col_block(T* cols, const T* in, const Planes& p, const kernels::ConvGeometry& g, int64_t c,
                  int64_t n0, int64_t n1) {
  const int64_t ow = g.out_w, taps = g.kernel_h * g.kernel_w, plane_size = p.height * p.width;
  for (int64_t tap = 0; tap < taps; ++tap) {
    const auto [row_offset, col_offset, ys, xs] = tap_window(p, g, tap);
    for (int64_t n = n0; n < n1; ++n) {
      const T* plane = in + (n * p.channels + c) * plane_size;
      T* dst = cols + (c * taps + tap) * p.row_len + n * p.out_plane;
      std::fill(dst, dst + ys.begin * ow, T(0));
      for (int64_t y = ys.begin; y < ys.end; ++y)
        gather_row(dst + y * ow, plane + (y * g.stride_h + row_offset) * p.width + col_offset, xs,
                   ow, g.stride_w);
      std::fill(dst + ys.end * ow, dst + g.out_h * ow, T(0));
    }
  }
}

// Input bytes of one channel's planes that one work item keeps hot in L1 while it walks every
// kernel offset over them.
constexpr int64_t kBlockBytes = 16 * 1024;

// Calls body(c, n0, n1) for every channel c and block of samples [n0, n1), in parallel. Each
// item walks all kernel offsets over its planes, which stay in L1, and runs sequentially through
// each columns row. (Per plane, the accesses scattered over all C * kh * kw rows; per row over
// the whole batch, every sample's plane missed L1 on each kernel offset.)
template <class F>
void for_each_block(const Planes& p, const kernels::ConvGeometry& g, int64_t elem_size, F&& body) {
  const int64_t plane_bytes = p.height * p.width * elem_size;
  const int64_t block =
      std::clamp<int64_t>(kBlockBytes / std::max<int64_t>(1, plane_bytes), 1, p.batch);
  const int64_t blocks = (p.batch + block - 1) / block;
  const int64_t work = std::max<int64_t>(1, g.kernel_h * g.kernel_w * block * p.out_plane);
  parallel_for(p.channels * blocks, std::max<int64_t>(1, kGrainSize / work),
               [&](int64_t begin, int64_t end) {
                 for (int64_t item = begin; item < end; ++item) {
                   const int64_t c = item / blocks, n0 = item % blocks * block;
                   body(c, n0, std::min(n0 + block, p.batch));
                 }
               });
}

template <class T>
void im2col_typed(const Tensor& columns, const Tensor& input, const kernels::ConvGeometry& g) {
  const Planes p = planes_of(input, g);
  const T* in = input.data_ptr<T>();
  T* cols = columns.data_ptr<T>();
  for_each_block(p, g, sizeof(T), [&](int64_t c, int64_t n0, int64_t n1) {
    im2col_block(cols, in, p, g, c, n0, n1);
  });
}

// Accumulates the columns of channel c for samples [n0, n1) into their input-gradient planes.
template <class T>
void col2im_block(T* out, const T* cols, const Planes& p, const kernels::ConvGeometry& g, int64_t c,
                  int64_t n0, int64_t n1) {
  const int64_t ow = g.out_w, taps = g.kernel_h * g.kernel_w, plane_size = p.height * p.width;
  for (int64_t n = n0; n < n1; ++n) {
    T* plane = out + (n * p.channels + c) * plane_size;
    std::fill(plane, plane + plane_size, T(0));
  }
  for (int64_t tap = 0; tap < taps; ++tap) {
    const auto [row_offset, col_offset, ys, xs] = tap_window(p, g, tap);
    for (int64_t n = n0; n < n1; ++n) {
      T* plane = out + (n * p.channels + c) * plane_size;
      const T* src_rows = cols + (c * taps + tap) * p.row_len + n * p.out_plane;
      for (int64_t y = ys.begin; y < ys.end; ++y) {
        T* dst = plane + (y * g.stride_h + row_offset) * p.width + col_offset;
        const T* src = src_rows + y * ow;
        if (g.stride_w == 1) {
          add_run(dst + xs.begin, src + xs.begin, xs.end - xs.begin);
        } else {
          for (int64_t x = xs.begin; x < xs.end; ++x) dst[x * g.stride_w] += src[x];
        }
      }
    }
  }
}

template <class T>
void col2im_typed(const Tensor& grad_input, const Tensor& columns, const kernels::ConvGeometry& g) {
  const Planes p = planes_of(grad_input, g);
  T* out = grad_input.data_ptr<T>();
  const T* cols = columns.data_ptr<T>();
  for_each_block(p, g, sizeof(T), [&](int64_t c, int64_t n0, int64_t n1) {
    col2im_block(out, cols, p, g, c, n0, n1);
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
