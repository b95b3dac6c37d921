// CPU im2col / col2im: the data movement around a convolution's GEMMs.
//
// Both run in parallel over (channel, block of samples), which own disjoint rows of the columns
// matrix (im2col) or disjoint planes of the input gradient (col2im), so threads never share a
// write. For each kernel offset the output positions whose input lies inside the image form a
// rectangle computed once, so the inner loops carry no bounds checks and run along contiguous
// memory (a plain copy / add at stride 1).
#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/cpu/conv2d.h"
#include "backends/cpu/cpu_levels.h"
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
  } else if (stride == 2) {
    // The downsampling convs' stride, as a constant, is vectorised (even-element shuffles)
    // where the general strided loop stays scalar (measured on a 3x3 stride-2 conv 64 -> 128
    // channels on 32 x 32: im2col 27% -> 19% of the forward, which ran ~10% faster).
    for (int64_t x = xs.begin; x < xs.end; ++x) dst[x] = src[2 * x];
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

// Direct (sliding-window) convolution for stride 1 and one group: no columns matrix. Each
// sample's planes are copied once into a zero-bordered scratch whose rows are wide enough for
// whole vectors, so every inner loop is a fixed-width multiply-add over contiguous memory with
// no bounds checks and no remainder. Worth it where the columns matrix is many times the input
// (few channels, large planes) and the GEMMs around it are too thin to hide its memory traffic.
namespace direct {

// Output rows are computed in whole vectors of this many lanes (one AVX-512 register of floats);
// lanes past out_w compute values that are never stored, or multiply zeros.
constexpr int64_t kLanes = 16;

struct Shape {
  int64_t channels, height, width, out_channels;
  int64_t kernel_h, kernel_w, pad_h, pad_w, dilation_h, dilation_w, out_h, out_w;

  int64_t wide() const { return (out_w + kLanes - 1) / kLanes * kLanes; }
  int64_t rows() const { return out_h + (kernel_h - 1) * dilation_h; }  // of the padded plane
  int64_t pitch() const { return wide() + (kernel_w - 1) * dilation_w; }
  int64_t taps() const { return channels * kernel_h * kernel_w; }
  int64_t padded_size() const { return channels * rows() * pitch(); }
  int64_t grad_size() const { return out_channels * out_h * wide(); }
};

Shape shape_of(const Tensor& input, int64_t out_channels, const kernels::ConvGeometry& g) {
  return {input.size(1), input.size(2), input.size(3), out_channels, g.kernel_h, g.kernel_w,
          g.pad_h,       g.pad_w,       g.dilation_h,  g.dilation_w, g.out_h,    g.out_w};
}

#define MG_DIRECT_INLINE inline __attribute__((always_inline))

// One sample's [C, H, W] planes into the zeroed [C, rows, pitch] scratch at (pad_h, pad_w).
template <class T>
MG_DIRECT_INLINE void pad_planes(T* dst, const T* in, const Shape& s) {
  const int64_t rows = s.rows(), pitch = s.pitch();
  std::fill(dst, dst + s.padded_size(), T(0));
  const int64_t len = std::min(s.width, pitch - s.pad_w);
  const int64_t height = std::min(s.height, rows - s.pad_h);
  for (int64_t c = 0; c < s.channels; ++c)
    for (int64_t y = 0; y < height; ++y) {
      const T* src = in + (c * s.height + y) * s.width;
      std::copy(src, src + len, dst + (c * rows + y + s.pad_h) * pitch + s.pad_w);
    }
}

// One sample's grad_out [O, out_h, out_w] into [O, out_h, wide], zero past out_w so that the
// extra lanes add nothing.
template <class T>
MG_DIRECT_INLINE void widen_grad(T* dst, const T* grad, const Shape& s) {
  const int64_t wide = s.wide();
  for (int64_t r = 0; r < s.out_channels * s.out_h; ++r) {
    std::copy(grad + r * s.out_w, grad + (r + 1) * s.out_w, dst + r * wide);
    std::fill(dst + r * wide + s.out_w, dst + (r + 1) * wide, T(0));
  }
}

// kLanes elements of T as one value: a 64-byte register for float, a pair for double (and
// several narrower ones in the baseline build).
// (A typedef in a class template: GCC drops vector_size from an alias template.)
template <class T>
struct VecOf {
  typedef T type __attribute__((vector_size(kLanes * sizeof(T))));
};
template <class T>
using Vec = typename VecOf<T>::type;
static_assert(sizeof(Vec<float>) == kLanes * sizeof(float));

// An unaligned load (through a reference: returning a vector wider than the baseline ISA's
// registers is an ABI question GCC warns about).
template <class T>
MG_DIRECT_INLINE void load(Vec<T>& v, const T* p) {
  std::memcpy(&v, p, sizeof(v));
}

// Output channels [o0, o0 + B) of one sample's output row y, lanes [x0, x0 + X * kLanes):
// B * X accumulators stay in registers over all taps; each input load serves B of them and each
// weight broadcast X.
template <int B, int X, class T>
MG_DIRECT_INLINE void forward_tile(T* out, const T* padded, const T* weight, const T* bias,
                                   const Shape& s, int64_t o0, int64_t y, int64_t x0) {
  const int64_t rows = s.rows(), pitch = s.pitch(), taps = s.taps();
  Vec<T> acc[B][X];
  for (int b = 0; b < B; ++b)
    for (int x = 0; x < X; ++x) acc[b][x] = Vec<T>{} + (bias ? bias[o0 + b] : T(0));
  for (int64_t c = 0; c < s.channels; ++c)
    for (int64_t i = 0; i < s.kernel_h; ++i) {
      const T* row = padded + (c * rows + y + i * s.dilation_h) * pitch + x0;
      const T* w = weight + o0 * taps + (c * s.kernel_h + i) * s.kernel_w;
      for (int64_t j = 0; j < s.kernel_w; ++j) {
        Vec<T> v[X];
        for (int x = 0; x < X; ++x) load(v[x], row + j * s.dilation_w + x * kLanes);
        for (int b = 0; b < B; ++b) {
          const T wv = w[b * taps + j];
          for (int x = 0; x < X; ++x) acc[b][x] += wv * v[x];
        }
      }
    }
  for (int x = 0; x < X; ++x) {
    const int64_t start = x0 + x * kLanes, len = std::min(kLanes, s.out_w - start);
    for (int b = 0; b < B; ++b) {
      T lanes[kLanes];
      std::memcpy(lanes, &acc[b][x], sizeof(lanes));
      std::copy(lanes, lanes + len, out + ((o0 + b) * s.out_h + y) * s.out_w + start);
    }
  }
}

// Output channels per tile: as many as keep 2 * B accumulators (and a few operands) within the
// 32 registers of AVX-512 (a double vector takes two).
template <class T>
constexpr int64_t kMaxBlock = 32 / sizeof(T);

// Calls TILE<B, EXTRA>(ARGS, o0, ...) over the output channels in blocks of at most
// kMaxBlock<T> (a switch, not a lambda: a lambda would not inherit the clone's target).
#define MG_DIRECT_BLOCKS(TILE, EXTRA, T, OUT_CHANNELS, ...) \
  for (int64_t o0 = 0; o0 < (OUT_CHANNELS);) {              \
    switch (std::min(kMaxBlock<T>, (OUT_CHANNELS)-o0)) {    \
      case 8:                                               \
        TILE<8, EXTRA>(__VA_ARGS__);                        \
        o0 += 8;                                            \
        break;                                              \
      case 7:                                               \
        TILE<7, EXTRA>(__VA_ARGS__);                        \
        o0 += 7;                                            \
        break;                                              \
      case 6:                                               \
        TILE<6, EXTRA>(__VA_ARGS__);                        \
        o0 += 6;                                            \
        break;                                              \
      case 5:                                               \
        TILE<5, EXTRA>(__VA_ARGS__);                        \
        o0 += 5;                                            \
        break;                                              \
      case 4:                                               \
        TILE<4, EXTRA>(__VA_ARGS__);                        \
        o0 += 4;                                            \
        break;                                              \
      case 3:                                               \
        TILE<3, EXTRA>(__VA_ARGS__);                        \
        o0 += 3;                                            \
        break;                                              \
      case 2:                                               \
        TILE<2, EXTRA>(__VA_ARGS__);                        \
        o0 += 2;                                            \
        break;                                              \
      default:                                              \
        TILE<1, EXTRA>(__VA_ARGS__);                        \
        o0 += 1;                                            \
        break;                                              \
    }                                                       \
  }

template <int X, class T>
MG_DIRECT_INLINE void forward_columns(T* out, const T* padded, const T* weight, const T* bias,
                                      const Shape& s, int64_t y, int64_t x0) {
  MG_DIRECT_BLOCKS(forward_tile, X, T, s.out_channels, out, padded, weight, bias, s, o0, y, x0)
}

// out [O, out_h, out_w] of one sample from its padded planes; weight [O, taps].
template <class T>
MG_DIRECT_INLINE void forward_sample(T* out, const T* padded, const T* weight, const T* bias,
                                     const Shape& s) {
  const int64_t wide = s.wide();
  for (int64_t y = 0; y < s.out_h; ++y) {
    int64_t x0 = 0;
    for (; x0 + 2 * kLanes <= wide; x0 += 2 * kLanes)
      forward_columns<2>(out, padded, weight, bias, s, y, x0);
    if (x0 < wide) forward_columns<1>(out, padded, weight, bias, s, y, x0);
  }
}

// acc[o0 + b][tap + t] (kLanes partial sums each) += the lane-wise products of B output
// channels' widened grad_out with one sample's padded planes shifted by the J taps from `tap`
// along the row. Each grad_out load serves J accumulators and each input load B; the lanes are
// summed once for the whole batch.
template <int B, int J, class T>
MG_DIRECT_INLINE void weight_grad_tile(T* acc, const T* padded, const T* grad, const Shape& s,
                                       int64_t o0, int64_t c, int64_t i, int64_t j) {
  const int64_t wide = s.wide(), rows = s.rows(), pitch = s.pitch(), taps = s.taps();
  const int64_t plane = s.out_h * wide, tap = (c * s.kernel_h + i) * s.kernel_w + j;
  Vec<T> sums[B][J];
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < J; ++t) load(sums[b][t], acc + ((o0 + b) * taps + tap + t) * kLanes);
  for (int64_t y = 0; y < s.out_h; ++y) {
    const T* row = padded + (c * rows + y + i * s.dilation_h) * pitch + j * s.dilation_w;
    const T* g = grad + (o0 * s.out_h + y) * wide;
    for (int64_t x0 = 0; x0 < wide; x0 += kLanes) {
      Vec<T> v[J], gv;
      for (int t = 0; t < J; ++t) load(v[t], row + t * s.dilation_w + x0);
      for (int b = 0; b < B; ++b) {
        load(gv, g + b * plane + x0);
        for (int t = 0; t < J; ++t) sums[b][t] += gv * v[t];
      }
    }
  }
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < J; ++t)
      std::memcpy(acc + ((o0 + b) * taps + tap + t) * kLanes, &sums[b][t], sizeof(sums[b][t]));
}

template <int J, class T>
MG_DIRECT_INLINE void weight_grad_taps(T* acc, const T* padded, const T* grad, const Shape& s,
                                       int64_t c, int64_t i, int64_t j) {
  MG_DIRECT_BLOCKS(weight_grad_tile, J, T, s.out_channels, acc, padded, grad, s, o0, c, i, j)
}

// acc [O, taps, kLanes] += this sample's contribution, from its widened grad_out.
template <class T>
MG_DIRECT_INLINE void weight_grad_sample(T* acc, const T* padded, const T* grad, const Shape& s) {
  for (int64_t c = 0; c < s.channels; ++c)
    for (int64_t i = 0; i < s.kernel_h; ++i) {
      int64_t j = 0;
      for (; j + 2 <= s.kernel_w; j += 2) weight_grad_taps<2>(acc, padded, grad, s, c, i, j);
      if (j < s.kernel_w) weight_grad_taps<1>(acc, padded, grad, s, c, i, j);
    }
}

// The vector width is chosen when the program loads (the library is built for baseline x86-64,
// whose 4-lane SSE leaves these loops several times slower than OpenBLAS's own dispatch).

#define MG_DIRECT_ENTRY_POINTS(T)                                                                \
  MIXGRAD_CPU_LEVEL_CLONES void forward(T* out, const T* padded, const T* weight, const T* bias, \
                                        const Shape& s) {                                        \
    forward_sample(out, padded, weight, bias, s);                                                \
  }                                                                                              \
  MIXGRAD_CPU_LEVEL_CLONES void weight_grad(T* acc, const T* padded, const T* grad,              \
                                            const Shape& s) {                                    \
    weight_grad_sample(acc, padded, grad, s);                                                    \
  }
MG_DIRECT_ENTRY_POINTS(float)
MG_DIRECT_ENTRY_POINTS(double)
#undef MG_DIRECT_ENTRY_POINTS
#undef MG_DIRECT_BLOCKS
#undef MG_DIRECT_INLINE

// Samples per work item: enough work to amortise the scratch.
int64_t sample_grain(const Shape& s) {
  const int64_t work = std::max<int64_t>(1, s.out_channels * s.taps() * s.out_h * s.wide());
  return std::max<int64_t>(1, kGrainSize / work);
}

template <class T>
void forward_typed(const Tensor& out, const Tensor& input, const Tensor& weight, const Tensor& bias,
                   const kernels::ConvGeometry& g) {
  const Shape s = shape_of(input, weight.size(0), g);
  const T* in = input.data_ptr<T>();
  const T* w = weight.data_ptr<T>();
  const T* b = bias.defined() ? bias.data_ptr<T>() : nullptr;
  T* o = out.data_ptr<T>();
  const int64_t in_size = s.channels * s.height * s.width;
  const int64_t out_size = s.out_channels * s.out_h * s.out_w;
  parallel_for(input.size(0), sample_grain(s), [&](int64_t begin, int64_t end) {
    std::vector<T> padded(s.padded_size());
    for (int64_t n = begin; n < end; ++n) {
      pad_planes(padded.data(), in + n * in_size, s);
      forward(o + n * out_size, padded.data(), w, b, s);
    }
  });
}

template <class T>
void weight_grad_typed(const Tensor& grad_weight, const Tensor& grad_out, const Tensor& input,
                       const kernels::ConvGeometry& g) {
  const int64_t batch = grad_out.size(0);
  const Shape s = shape_of(input, grad_out.size(1), g);
  const T* go = grad_out.data_ptr<T>();
  const T* in = input.data_ptr<T>();
  const int64_t in_size = s.channels * s.height * s.width;
  const int64_t out_size = s.out_channels * s.out_h * s.out_w;
  const int64_t weight_size = s.out_channels * s.taps();
  // One partial sum per work item, added in item order: the same thread count gives the same
  // bits.
  std::vector<std::vector<T>> partials(batch);
  parallel_for(batch, sample_grain(s), [&](int64_t begin, int64_t end) {
    std::vector<T> padded(s.padded_size()), grad(s.grad_size()), acc(weight_size * kLanes);
    for (int64_t n = begin; n < end; ++n) {
      widen_grad(grad.data(), go + n * out_size, s);
      pad_planes(padded.data(), in + n * in_size, s);
      weight_grad(acc.data(), padded.data(), grad.data(), s);
    }
    std::vector<T> sums(weight_size);
    for (int64_t k = 0; k < weight_size; ++k)
      for (int64_t x = 0; x < kLanes; ++x) sums[k] += acc[k * kLanes + x];
    partials[begin] = std::move(sums);
  });
  T* gw = grad_weight.data_ptr<T>();
  std::fill(gw, gw + weight_size, T(0));
  for (const std::vector<T>& sums : partials)
    for (int64_t k = 0; k < static_cast<int64_t>(sums.size()); ++k) gw[k] += sums[k];
}

}  // namespace direct

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

void conv2d_direct(const Tensor& out, const Tensor& input, const Tensor& weight, const Tensor& bias,
                   const kernels::ConvGeometry& geometry) {
  if (out.numel() == 0) return;
  dispatch_floating(input.dtype(), "conv2d_direct", [&]<class T>() {
    direct::forward_typed<T>(out, input, weight, bias, geometry);
  });
}

void conv2d_direct_weight_grad(const Tensor& grad_weight, const Tensor& grad_out,
                               const Tensor& input, const kernels::ConvGeometry& geometry) {
  dispatch_floating(grad_out.dtype(), "conv2d_direct_weight_grad", [&]<class T>() {
    direct::weight_grad_typed<T>(grad_weight, grad_out, input, geometry);
  });
}

}  // namespace mixgrad::cpu
