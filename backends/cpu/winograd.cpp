// CPU Winograd F(2x2, 3x3) tile transforms (see kernels::winograd for the contract).
//
// Planes (one channel of one sample) run in parallel, each walked one row of tiles at a time.
// Neighbouring tiles' 4-wide windows overlap by two columns, so a padded row is first split into
// its even and odd columns: window tx is then (even[tx], odd[tx], even[tx + 1], odd[tx + 1]), and
// every transform is a few adds over arrays indexed by tx, which the compiler vectorises.
// A tiles tensor [16, C, T] keeps plane (n, c)'s tiles at c * T + n * rows * cols, element k of
// them k * stride further (the tensor's first stride).
#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "backends/cpu/cpu_levels.h"
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
// more runtime overlap checks than it is willing to emit before vectorising them. (clang's
// spelling of the same promise, `clang loop vectorize(assume_safety)`.)
#ifdef __clang__
#define MG_VECTOR_LOOP _Pragma("clang loop vectorize(assume_safety)")
#else
#define MG_VECTOR_LOOP _Pragma("GCC ivdep")
#endif

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

// The 1-D maps whose row-then-column application makes each 2-D transform (B^T, B, A^T, A of
// the paper), on kIn values giving kOut.
struct InputMap {  // B^T
  static constexpr int kIn = 4, kOut = 4;
  template <class T>
  static void apply(const T* d, T* v) {
    v[0] = d[0] - d[2];
    v[1] = d[1] + d[2];
    v[2] = d[2] - d[1];
    v[3] = d[1] - d[3];
  }
};
struct InputAdjointMap {  // B
  static constexpr int kIn = 4, kOut = 4;
  template <class T>
  static void apply(const T* v, T* d) {
    d[0] = v[0];
    d[1] = v[1] - v[2] + v[3];
    d[2] = v[1] + v[2] - v[0];
    d[3] = -v[3];
  }
};
struct OutputMap {  // A^T
  static constexpr int kIn = 4, kOut = 2;
  template <class T>
  static void apply(const T* m, T* y) {
    y[0] = m[0] + m[1] + m[2];
    y[1] = m[1] - m[2] - m[3];
  }
};
struct OutputAdjointMap {  // A: 2 values give 4; applied directly, never through map_arrays
  template <class T>
  static void apply(const T* y, T* m) {
    m[0] = y[0];
    m[1] = y[0] + y[1];
    m[2] = y[0] - y[1];
    m[3] = -y[1];
  }
};

// A y A^T of a 2 x 2 block y = (y00, y01, y10, y11) in one step, so that the output adjoint
// reads the block rows directly (a first pass through scratch measured 1.6-2.5x slower).
struct OutputAdjointTileMap {
  static constexpr int kIn = 4, kOut = 16;
  template <class T>
  static void apply(const T* y, T* m) {
    T even[4], odd[4];  // A down the block's columns
    const T column0[2] = {y[0], y[2]}, column1[2] = {y[1], y[3]};
    OutputAdjointMap::apply(column0, even);
    OutputAdjointMap::apply(column1, odd);
    for (int i = 0; i < 4; ++i) {
      const T row[2] = {even[i], odd[i]};
      OutputAdjointMap::apply(row, m + 4 * i);
    }
  }
};

template <class T, std::size_t N>
using Arrays = std::array<T*, N>;

// N arrays `step` apart from `first`.
template <std::size_t N, class T>
MG_WINOGRAD_INLINE Arrays<T, N> spaced(T* first, int64_t step) {
  Arrays<T, N> a;
  for (std::size_t k = 0; k < N; ++k) a[k] = first + static_cast<int64_t>(k) * step;
  return a;
}

// For x in [0, n): out = Map(src[0][x], ..., src[kIn - 1][x]); dst[k][x] = out[First + k] (+= when
// Accumulate) for as many outputs from First as dst has arrays.
template <class Map, bool Accumulate = false, std::size_t First = 0, class T, std::size_t Count>
MG_WINOGRAD_INLINE void map_arrays(const Arrays<T, Count>& dst,
                                   const Arrays<const T, Map::kIn>& src, int64_t n) {
  MG_VECTOR_LOOP
  for (int64_t x = 0; x < n; ++x) {
    T in[Map::kIn], out[Map::kOut];
    for (int k = 0; k < Map::kIn; ++k) in[k] = src[k][x];
    Map::apply(in, out);
    for (std::size_t k = 0; k < Count; ++k) {
      if constexpr (Accumulate)
        dst[k][x] += out[First + k];
      else
        dst[k][x] = out[First + k];
    }
  }
}

// Window tx of a padded row split into even / odd columns: (even[tx], odd[tx], even[tx + 1],
// odd[tx + 1]).
template <class T>
MG_WINOGRAD_INLINE Arrays<T, 4> windows(T* even, T* odd) {
  return {even, odd, even + 1, odd + 1};
}

// V = B^T d B of every window d of one plane.
template <class T>
MG_WINOGRAD_INLINE void input_plane(T* tiles, int64_t stride, const T* image, const Grid& g,
                                    T* scratch) {
  const int64_t h = g.half(), n = g.cols;
  T* even = scratch;
  T* odd = even + g.padded_rows() * h;
  T* t = odd + g.padded_rows() * h;  // (d B)[r][j] at 4r + j
  for (int64_t q = 0; q < g.padded_rows(); ++q)
    split_row(even + q * h, odd + q * h, padded_row(image, q, g), h, g.pad_w, g.width);
  for (int64_t ty = 0; ty < g.rows; ++ty) {
    for (int64_t r = 0; r < 4; ++r) {
      const int64_t q = 2 * ty + r;
      map_arrays<InputMap>(spaced<4>(t + 4 * r * n, n), windows<const T>(even + q * h, odd + q * h),
                           n);
    }
    for (int64_t j = 0; j < 4; ++j)
      map_arrays<InputMap>(spaced<4>(tiles + ty * n + j * stride, 4 * stride),
                           spaced<4, const T>(t + j * n, 4 * n), n);
  }
}

// The plane's gradient: each window adds B v B^T at its place.
template <class T>
MG_WINOGRAD_INLINE void input_adjoint_plane(T* image, const T* tiles, int64_t stride, const Grid& g,
                                            T* scratch) {
  const int64_t h = g.half(), n = g.cols;
  T* even = scratch;
  T* odd = even + g.padded_rows() * h;
  T* s = odd + g.padded_rows() * h;  // (B v)[r][j] at 4r + j
  std::fill(even, s, T(0));
  for (int64_t ty = 0; ty < g.rows; ++ty) {
    for (int64_t j = 0; j < 4; ++j)
      map_arrays<InputAdjointMap>(spaced<4>(s + j * n, 4 * n),
                                  spaced<4, const T>(tiles + ty * n + j * stride, 4 * stride), n);
    // Added into the padded row's columns 2tx .. 2tx + 3 in two passes, the second one window
    // further, so that neither carries a dependence from one tx to the next.
    for (int64_t r = 0; r < 4; ++r) {
      const Arrays<T, 4> w = windows(even + (2 * ty + r) * h, odd + (2 * ty + r) * h);
      const Arrays<const T, 4> rows = spaced<4, const T>(s + 4 * r * n, n);
      map_arrays<InputAdjointMap, true, 0>(Arrays<T, 2>{w[0], w[1]}, rows, n);
      map_arrays<InputAdjointMap, true, 2>(Arrays<T, 2>{w[2], w[3]}, rows, n);
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
  T* t = scratch;  // (A^T m)[a][j] at 4a + j
  T* ye = t + 8 * n;
  T* yo = ye + n;
  for (int64_t ty = 0; ty < g.rows; ++ty) {
    for (int64_t j = 0; j < 4; ++j)
      map_arrays<OutputMap>(spaced<2>(t + j * n, 4 * n),
                            spaced<4, const T>(tiles + ty * n + j * stride, 4 * stride), n);
    for (int64_t a = 0; a < 2 && 2 * ty + a < g.height; ++a) {
      map_arrays<OutputMap>(Arrays<T, 2>{ye, yo}, spaced<4, const T>(t + 4 * a * n, n), n);
      join_row(image + (2 * ty + a) * g.width, ye, yo, n, 0, g.width);
    }
  }
}

// Tile rows 4i .. 4i + 3 of A y A^T for each i in I, one pass each. (A helper rather than a
// lambda: a lambda's body is compiled apart from the target clones, for baseline x86-64.)
template <std::size_t... I, class T>
MG_WINOGRAD_INLINE void output_adjoint_rows(T* out, int64_t stride, const Arrays<const T, 4>& block,
                                            int64_t n, std::index_sequence<I...>) {
  (map_arrays<OutputAdjointTileMap, false, 4 * I>(
       spaced<4>(out + static_cast<int64_t>(4 * I) * stride, stride), block, n),
   ...);
}

// A y A^T of each 2 x 2 block y of one output plane's gradient (zero past its edge).
template <class T>
MG_WINOGRAD_INLINE void output_adjoint_plane(T* tiles, int64_t stride, const T* image,
                                             const Grid& g, T* scratch) {
  const int64_t h = g.half(), n = g.cols;
  T* e0 = scratch;  // the two block rows' even and odd columns
  T* o0 = e0 + h;
  T* e1 = o0 + h;
  T* o1 = e1 + h;
  for (int64_t ty = 0; ty < g.rows; ++ty) {
    split_row(e0, o0, padded_row(image, 2 * ty, g), h, 0, g.width);
    split_row(e1, o1, padded_row(image, 2 * ty + 1, g), h, 0, g.width);
    // Four tile rows per pass: sixteen write streams at once measured ~2x slower.
    const Arrays<const T, 4> block{e0, o0, e1, o1};
    output_adjoint_rows(tiles + ty * n, stride, block, n, std::make_index_sequence<4>{});
  }
}

// The vector width is chosen when the program loads (the library is built for baseline x86-64).

#define MG_WINOGRAD_ENTRY_POINTS(T)                                                             \
  MIXGRAD_CPU_LEVEL_CLONES void input(T* tiles, int64_t stride, const T* image, const Grid& g,  \
                                      T* scratch) {                                             \
    input_plane(tiles, stride, image, g, scratch);                                              \
  }                                                                                             \
  MIXGRAD_CPU_LEVEL_CLONES void input_adjoint(T* image, const T* tiles, int64_t stride,         \
                                              const Grid& g, T* scratch) {                      \
    input_adjoint_plane(image, tiles, stride, g, scratch);                                      \
  }                                                                                             \
  MIXGRAD_CPU_LEVEL_CLONES void output(T* image, const T* tiles, int64_t stride, const Grid& g, \
                                       T* scratch) {                                            \
    output_plane(image, tiles, stride, g, scratch);                                             \
  }                                                                                             \
  MIXGRAD_CPU_LEVEL_CLONES void output_adjoint(T* tiles, int64_t stride, const T* image,        \
                                               const Grid& g, T* scratch) {                     \
    output_adjoint_plane(tiles, stride, image, g, scratch);                                     \
  }
MG_WINOGRAD_ENTRY_POINTS(float)
MG_WINOGRAD_ENTRY_POINTS(double)
#undef MG_WINOGRAD_ENTRY_POINTS
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
