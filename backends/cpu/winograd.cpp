// CPU Winograd F(2x2, 3x3) tile transforms (see kernels::winograd for the contract).
//
// Planes (one channel of one sample) run in parallel, each walked one row of tiles at a time.
// Neighbouring tiles' 4-wide windows overlap by two columns, so a padded row is first split into
// its even and odd columns: window tx is then (even[tx], odd[tx], even[tx + 1], odd[tx + 1]), and
// every transform is a few adds over arrays indexed by tx, which the compiler vectorises.
// A tiles tensor [16, C, T] keeps plane (n, c)'s tiles at c * T + n * rows * cols, element k of
// them k * stride further (the tensor's first stride).
#include <algorithm>
#include <vector>

#include "backends/cpu/kernels.h"
#include "backends/cpu/parallel.h"
#include "core/dispatch.h"
#include "core/error.h"

namespace mixgrad::cpu {

namespace {

using kernels::WinogradTransform;

constexpr int64_t kTileElements = 16;

// The tiles of one convolution, seen from the image side a transform reads or writes: the input
// (Input*, padded) or the output (Output*, unpadded).
struct Grid {
  int64_t batch = 0, channels = 0;
  int64_t height = 0, width = 0;
  int64_t pad_h = 0, pad_w = 0;
  int64_t rows = 0, cols = 0;  // tiles per sample down / across
  int64_t count() const { return batch * rows * cols; }
  // Entries of a padded row's even (or odd) columns: the windows reach column 2 * cols + 1.
  int64_t half() const { return cols + 1; }
  int64_t padded_rows() const { return 2 * rows + 2; }
};

Grid grid_of(const Tensor& image, const kernels::ConvGeometry& g, bool input_side) {
  Grid grid{image.size(0), image.size(1), image.size(2), image.size(3)};
  if (input_side) {
    grid.pad_h = g.pad_h;
    grid.pad_w = g.pad_w;
  }
  grid.rows = (g.out_h + 1) / 2;
  grid.cols = (g.out_w + 1) / 2;
  return grid;
}

#define MG_WINOGRAD_INLINE inline __attribute__((always_inline))
// The loops below read and write through several pointers into distinct arrays; GCC would need
// more runtime overlap checks than it is willing to emit before vectorising them.
#define MG_VECTOR_LOOP _Pragma("GCC ivdep")

// Entries i of a row split into even / odd padded columns whose both columns 2i and 2i + 1 lie
// in the image's [pad, pad + width): [begin, end) of [0, half). The loops below run the rest with
// bounds checks, this range without.
struct Interior {
  int64_t begin, end;
};

MG_WINOGRAD_INLINE Interior interior(int64_t half, int64_t pad, int64_t width) {
  const int64_t begin = std::min(half, (pad + 1) / 2);
  return {begin, std::clamp((width + pad) / 2, begin, half)};
}

// Splits the padded columns [0, 2 * half) of an image row (`row`, width entries from padded column
// `pad` on; null for a padding row) into its even and odd columns.
template <class T>
MG_WINOGRAD_INLINE void split_row(T* even, T* odd, const T* row, int64_t half, int64_t pad,
                                  int64_t width) {
  const Interior in = row ? interior(half, pad, width) : Interior{half, half};
  const auto at = [&](int64_t p) {
    return row && p >= pad && p < pad + width ? row[p - pad] : T(0);
  };
  for (int64_t i = 0; i < in.begin; ++i) {
    even[i] = at(2 * i);
    odd[i] = at(2 * i + 1);
  }
  MG_VECTOR_LOOP
  for (int64_t i = in.begin; i < in.end; ++i) {
    even[i] = row[2 * i - pad];
    odd[i] = row[2 * i + 1 - pad];
  }
  for (int64_t i = in.end; i < half; ++i) {
    even[i] = at(2 * i);
    odd[i] = at(2 * i + 1);
  }
}

// Writes the padded columns [pad, pad + width) of a row split into even / odd columns (half
// entries each) to `row`.
template <class T>
MG_WINOGRAD_INLINE void join_row(T* row, const T* even, const T* odd, int64_t half, int64_t pad,
                                 int64_t width) {
  const Interior in = interior(half, pad, width);
  const auto put = [&](int64_t p, T v) {
    if (p >= pad && p < pad + width) row[p - pad] = v;
  };
  for (int64_t i = 0; i < in.begin; ++i) {
    put(2 * i, even[i]);
    put(2 * i + 1, odd[i]);
  }
  MG_VECTOR_LOOP
  for (int64_t i = in.begin; i < in.end; ++i) {
    row[2 * i - pad] = even[i];
    row[2 * i + 1 - pad] = odd[i];
  }
  for (int64_t i = in.end; i < half; ++i) {
    put(2 * i, even[i]);
    put(2 * i + 1, odd[i]);
  }
}

// Row q of a plane padded by g.pad_h rows on top, or null for a padding row.
template <class T>
MG_WINOGRAD_INLINE const T* padded_row(const T* image, int64_t q, const Grid& g) {
  const int64_t y = q - g.pad_h;
  return y >= 0 && y < g.height ? image + y * g.width : nullptr;
}

// Scratch elements each plane function needs.
int64_t scratch_size(const Grid& g) {
  return 2 * g.padded_rows() * g.half() + kTileElements * g.cols;
}

// V = B^T d B of every window d of one plane.
template <class T>
MG_WINOGRAD_INLINE void input_plane(T* tiles, int64_t stride, const T* image, const Grid& g,
                                    T* scratch) {
  const int64_t h = g.half(), n = g.cols;
  T* even = scratch;
  T* odd = even + g.padded_rows() * h;
  T* t = odd + g.padded_rows() * h;
  for (int64_t q = 0; q < g.padded_rows(); ++q)
    split_row(even + q * h, odd + q * h, padded_row(image, q, g), h, g.pad_w, g.width);
  for (int64_t ty = 0; ty < g.rows; ++ty) {
    // Along each window row r: t[4r + j] = (d B)[r][j].
    for (int64_t r = 0; r < 4; ++r) {
      const T* __restrict e = even + (2 * ty + r) * h;
      const T* __restrict o = odd + (2 * ty + r) * h;
      T* __restrict t0 = t + 4 * r * n;
      T* __restrict t1 = t0 + n;
      T* __restrict t2 = t1 + n;
      T* __restrict t3 = t2 + n;
      MG_VECTOR_LOOP
      for (int64_t x = 0; x < n; ++x) {
        t0[x] = e[x] - e[x + 1];
        t1[x] = o[x] + e[x + 1];
        t2[x] = e[x + 1] - o[x];
        t3[x] = o[x] - o[x + 1];
      }
    }
    // Down each column j: V[4i + j] = (B^T t)[i][j].
    T* out = tiles + ty * n;
    for (int64_t j = 0; j < 4; ++j) {
      const T* __restrict r0 = t + j * n;
      const T* __restrict r1 = r0 + 4 * n;
      const T* __restrict r2 = r1 + 4 * n;
      const T* __restrict r3 = r2 + 4 * n;
      T* __restrict v0 = out + j * stride;
      T* __restrict v1 = v0 + 4 * stride;
      T* __restrict v2 = v1 + 4 * stride;
      T* __restrict v3 = v2 + 4 * stride;
      MG_VECTOR_LOOP
      for (int64_t x = 0; x < n; ++x) {
        v0[x] = r0[x] - r2[x];
        v1[x] = r1[x] + r2[x];
        v2[x] = r2[x] - r1[x];
        v3[x] = r1[x] - r3[x];
      }
    }
  }
}

// The plane's gradient: each window adds B v B^T at its place.
template <class T>
MG_WINOGRAD_INLINE void input_adjoint_plane(T* image, const T* tiles, int64_t stride, const Grid& g,
                                            T* scratch) {
  const int64_t h = g.half(), n = g.cols;
  T* even = scratch;
  T* odd = even + g.padded_rows() * h;
  T* s = odd + g.padded_rows() * h;
  std::fill(even, s, T(0));
  for (int64_t ty = 0; ty < g.rows; ++ty) {
    // Down each column j: s[4r + j] = (B v)[r][j].
    const T* in = tiles + ty * n;
    for (int64_t j = 0; j < 4; ++j) {
      const T* __restrict v0 = in + j * stride;
      const T* __restrict v1 = v0 + 4 * stride;
      const T* __restrict v2 = v1 + 4 * stride;
      const T* __restrict v3 = v2 + 4 * stride;
      T* __restrict s0 = s + j * n;
      T* __restrict s1 = s0 + 4 * n;
      T* __restrict s2 = s1 + 4 * n;
      T* __restrict s3 = s2 + 4 * n;
      MG_VECTOR_LOOP
      for (int64_t x = 0; x < n; ++x) {
        s0[x] = v0[x];
        s1[x] = v1[x] - v2[x] + v3[x];
        s2[x] = v1[x] + v2[x] - v0[x];
        s3[x] = -v3[x];
      }
    }
    // Along each window row r, added into the padded row's columns 2tx .. 2tx + 3. The second
    // loop adds the columns one window further, so neither loop carries a dependence.
    for (int64_t r = 0; r < 4; ++r) {
      T* __restrict e = even + (2 * ty + r) * h;
      T* __restrict o = odd + (2 * ty + r) * h;
      const T* __restrict s0 = s + 4 * r * n;
      const T* __restrict s1 = s0 + n;
      const T* __restrict s2 = s1 + n;
      const T* __restrict s3 = s2 + n;
      MG_VECTOR_LOOP
      for (int64_t x = 0; x < n; ++x) {
        e[x] += s0[x];
        o[x] += s1[x] - s2[x] + s3[x];
      }
      MG_VECTOR_LOOP
      for (int64_t x = 0; x < n; ++x) {
        e[x + 1] += s1[x] + s2[x] - s0[x];
        o[x + 1] -= s3[x];
      }
    }
  }
  for (int64_t y = 0; y < g.height; ++y) {
    const int64_t q = y + g.pad_h;
    join_row(image + y * g.width, even + q * h, odd + q * h, h, g.pad_w, g.width);
  }
}

// Y = A^T m A of each tile of one output plane, cropped at its edge.
template <class T>
MG_WINOGRAD_INLINE void output_plane(T* image, const T* tiles, int64_t stride, const Grid& g,
                                     T* scratch) {
  const int64_t n = g.cols;
  T* t = scratch;  // 8 rows: (A^T m)[a][j] at 4a + j
  T* ye = t + 8 * n;
  T* yo = ye + n;
  for (int64_t ty = 0; ty < g.rows; ++ty) {
    const T* m = tiles + ty * n;
    for (int64_t j = 0; j < 4; ++j) {
      const T* __restrict m0 = m + j * stride;
      const T* __restrict m1 = m0 + 4 * stride;
      const T* __restrict m2 = m1 + 4 * stride;
      const T* __restrict m3 = m2 + 4 * stride;
      T* __restrict r0 = t + j * n;
      T* __restrict r1 = r0 + 4 * n;
      MG_VECTOR_LOOP
      for (int64_t x = 0; x < n; ++x) {
        r0[x] = m0[x] + m1[x] + m2[x];
        r1[x] = m1[x] - m2[x] - m3[x];
      }
    }
    for (int64_t a = 0; a < 2 && 2 * ty + a < g.height; ++a) {
      const T* __restrict r0 = t + 4 * a * n;
      const T* __restrict r1 = r0 + n;
      const T* __restrict r2 = r1 + n;
      const T* __restrict r3 = r2 + n;
      MG_VECTOR_LOOP
      for (int64_t x = 0; x < n; ++x) {
        ye[x] = r0[x] + r1[x] + r2[x];
        yo[x] = r1[x] - r2[x] - r3[x];
      }
      join_row(image + (2 * ty + a) * g.width, ye, yo, n, 0, g.width);
    }
  }
}

// Row i of A y for the 2 x 2 blocks (e0, o0; e1, o1) of tx, then by columns: tiles 4i .. 4i + 3.
template <int I, class T>
MG_WINOGRAD_INLINE void output_adjoint_row(T* out, int64_t stride, const T* e0, const T* o0,
                                           const T* e1, const T* o1, int64_t n) {
  T* __restrict d0 = out + 4 * I * stride;
  T* __restrict d1 = d0 + stride;
  T* __restrict d2 = d1 + stride;
  T* __restrict d3 = d2 + stride;
  MG_VECTOR_LOOP
  for (int64_t x = 0; x < n; ++x) {
    const T e = I == 0 ? e0[x] : I == 1 ? e0[x] + e1[x] : I == 2 ? e0[x] - e1[x] : -e1[x];
    const T o = I == 0 ? o0[x] : I == 1 ? o0[x] + o1[x] : I == 2 ? o0[x] - o1[x] : -o1[x];
    d0[x] = e;
    d1[x] = e + o;
    d2[x] = e - o;
    d3[x] = -o;
  }
}

// A y A^T of each 2 x 2 block y of one output plane's gradient (zero past its edge).
template <class T>
MG_WINOGRAD_INLINE void output_adjoint_plane(T* tiles, int64_t stride, const T* image,
                                             const Grid& g, T* scratch) {
  const int64_t h = g.half(), n = g.cols;
  T* e0 = scratch;
  T* o0 = e0 + h;
  T* e1 = o0 + h;
  T* o1 = e1 + h;
  for (int64_t ty = 0; ty < g.rows; ++ty) {
    split_row(e0, o0, padded_row(image, 2 * ty, g), h, 0, g.width);
    split_row(e1, o1, padded_row(image, 2 * ty + 1, g), h, 0, g.width);
    T* out = tiles + ty * n;
    output_adjoint_row<0>(out, stride, e0, o0, e1, o1, n);
    output_adjoint_row<1>(out, stride, e0, o0, e1, o1, n);
    output_adjoint_row<2>(out, stride, e0, o0, e1, o1, n);
    output_adjoint_row<3>(out, stride, e0, o0, e1, o1, n);
  }
}

// The vector width is chosen when the program loads (the library is built for baseline x86-64).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MG_WINOGRAD_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MG_WINOGRAD_CLONES
#endif

#define MG_WINOGRAD_ENTRY_POINTS(T)                                                               \
  MG_WINOGRAD_CLONES void input(T* tiles, int64_t stride, const T* image, const Grid& g,          \
                                T* scratch) {                                                     \
    input_plane(tiles, stride, image, g, scratch);                                                \
  }                                                                                               \
  MG_WINOGRAD_CLONES void input_adjoint(T* image, const T* tiles, int64_t stride, const Grid& g,  \
                                        T* scratch) {                                             \
    input_adjoint_plane(image, tiles, stride, g, scratch);                                        \
  }                                                                                               \
  MG_WINOGRAD_CLONES void output(T* image, const T* tiles, int64_t stride, const Grid& g,         \
                                 T* scratch) {                                                    \
    output_plane(image, tiles, stride, g, scratch);                                               \
  }                                                                                               \
  MG_WINOGRAD_CLONES void output_adjoint(T* tiles, int64_t stride, const T* image, const Grid& g, \
                                         T* scratch) {                                            \
    output_adjoint_plane(tiles, stride, image, g, scratch);                                       \
  }
MG_WINOGRAD_ENTRY_POINTS(float)
MG_WINOGRAD_ENTRY_POINTS(double)
#undef MG_WINOGRAD_ENTRY_POINTS
#undef MG_WINOGRAD_CLONES
#undef MG_WINOGRAD_INLINE
#undef MG_VECTOR_LOOP

// Runs one of the plane transforms over every plane of `image` [N, C, height, width] and its
// tiles [16, C, T].
template <class T>
void tile_transform(const Tensor& image, const Tensor& tiles, WinogradTransform transform,
                    const kernels::ConvGeometry& geometry) {
  const bool input_side =
      transform == WinogradTransform::Input || transform == WinogradTransform::InputAdjoint;
  const Grid g = grid_of(image, geometry, input_side);
  MG_CHECK(tiles.dim() == 3 && tiles.size(0) == kTileElements && tiles.size(1) == g.channels &&
               tiles.size(2) == g.count() && tiles.stride(2) == 1 && tiles.stride(1) == g.count() &&
               tiles.stride(0) >= g.channels * g.count(),
           "winograd", "tiles of shape ", tiles.shape(), " do not match the image of shape ",
           image.shape(), " (expected [16, ", g.channels, ", ", g.count(), "])");
  T* image_data = image.data_ptr<T>();
  T* tile_data = tiles.data_ptr<T>();
  const int64_t plane = g.height * g.width, per_sample = g.rows * g.cols;
  const int64_t stride = tiles.stride(0);
  const int64_t work = std::max<int64_t>(1, kTileElements * per_sample);
  parallel_for(g.batch * g.channels, std::max<int64_t>(1, kGrainSize / work),
               [&](int64_t begin, int64_t end) {
                 std::vector<T> scratch(scratch_size(g));
                 for (int64_t p = begin; p < end; ++p) {
                   const int64_t n = p / g.channels, c = p % g.channels;
                   T* im = image_data + p * plane;
                   T* ti = tile_data + c * g.count() + n * per_sample;
                   switch (transform) {
                     case WinogradTransform::Input:
                       input(ti, stride, im, g, scratch.data());
                       break;
                     case WinogradTransform::InputAdjoint:
                       input_adjoint(im, ti, stride, g, scratch.data());
                       break;
                     case WinogradTransform::Output:
                       output(im, ti, stride, g, scratch.data());
                       break;
                     case WinogradTransform::OutputAdjoint:
                       output_adjoint(ti, stride, im, g, scratch.data());
                       break;
                   }
                 }
               });
}

}  // namespace

void winograd(const Tensor& out, const Tensor& in, WinogradTransform transform,
              const kernels::ConvGeometry& geometry) {
  const bool from_image =
      transform == WinogradTransform::Input || transform == WinogradTransform::OutputAdjoint;
  dispatch_floating(in.dtype(), "winograd", [&]<class T>() {
    if (from_image)
      tile_transform<T>(in, out, transform, geometry);
    else
      tile_transform<T>(out, in, transform, geometry);
  });
}

}  // namespace mixgrad::cpu
