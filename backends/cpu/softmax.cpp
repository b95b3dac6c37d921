// CPU softmax / log_softmax and their backward, one row at a time along the softmax dim. The
// row math runs on unit-stride rows; strided rows are copied, a tile of neighbouring rows at a
// time, into per-thread scratch first (and the results copied back), so the math exists once and
// the common last-dim case copies nothing.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/dim_rows.h"
#include "backends/cpu/kernels.h"
#include "core/dispatch.h"

namespace mixgrad::cpu {

namespace {

// Row sums accumulate in double: float rows of many small terms keep their precision.
using Acc = double;

template <class T>
T row_max(const T* x, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

// y = softmax(x) or log_softmax(x) of one unit-stride row; y may alias x. The row max is
// subtracted before exp so [1000, 1001] does not overflow. A NaN anywhere makes the row NaN
// through the sum, whatever the max reduction made of it.
template <class T, bool Log>
void softmax_row(const T* x, T* y, int64_t n) {
  const T m = row_max(x, n);
  Acc sum = 0;
  if constexpr (Log) {
    for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - m);
    const T log_sum = static_cast<T>(std::log(sum));
    // (x - m) - log_sum, not x - (m + log_sum): the shifted value is exact, the large m is not.
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) - log_sum;
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const T e = std::exp(x[i] - m);
      y[i] = e;
      sum += e;
    }
    const T inv = static_cast<T>(1 / sum);
    for (int64_t i = 0; i < n; ++i) y[i] *= inv;
  }
}

// gin from the output gradient g and the forward output y of one unit-stride row; gin may
// alias g. softmax: gin = y * (g - <g, y>); log_softmax: gin = g - exp(y) * sum(g).
template <class T, bool Log>
void softmax_backward_row(const T* g, const T* y, T* gin, int64_t n) {
  Acc s = 0;
  if constexpr (Log) {
    for (int64_t i = 0; i < n; ++i) s += g[i];
    const T total = static_cast<T>(s);
    for (int64_t i = 0; i < n; ++i) gin[i] = g[i] - std::exp(y[i]) * total;
  } else {
    for (int64_t i = 0; i < n; ++i) s += static_cast<Acc>(g[i]) * y[i];
    const T dot = static_cast<T>(s);
    for (int64_t i = 0; i < n; ++i) gin[i] = y[i] * (g[i] - dot);
  }
}

// Rows per tile on the strided path: 16 float rows fill a 64-byte line when the tile's rows
// are neighbours in memory.
constexpr int64_t kTileRows = 16;

// scratch[t * n + i] = row t, element i of a tile (see DimRows::for_row_tiles).
template <class T>
void load_tile(const T* p, int64_t stride, int64_t tile_stride, int64_t n, int64_t count,
               T* scratch) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t t = 0; t < count; ++t) scratch[t * n + i] = p[t * tile_stride + i * stride];
}

template <class T>
void store_tile(const T* scratch, T* p, int64_t stride, int64_t tile_stride, int64_t n,
                int64_t count) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t t = 0; t < count; ++t) p[t * tile_stride + i * stride] = scratch[t * n + i];
}

template <class T, bool Log>
void softmax_typed(const Tensor& out, const Tensor& in, int64_t dim) {
  const DimRows<2> rows({&out, &in}, dim);
  const int64_t n = rows.length(0);
  if (n == 0) return;
  T* out_base = out.data_ptr<T>();
  const T* in_base = in.data_ptr<T>();
  using Offsets = DimRows<2>::Offsets;
  if (rows.stride(0) == 1 && rows.stride(1) == 1) {
    rows.parallel(n, [&](int64_t begin, int64_t end) {
      rows.for_rows(begin, end, [&](const Offsets& off) {
        softmax_row<T, Log>(in_base + off[1], out_base + off[0], n);
      });
    });
    return;
  }
  // Strided rows: a tile goes through scratch, where the row math sees unit-stride rows.
  rows.parallel(n, [&](int64_t begin, int64_t end) {
    std::vector<T> scratch(kTileRows * n);
    rows.for_row_tiles(begin, end, kTileRows, [&](const Offsets& off, int64_t count) {
      load_tile(in_base + off[1], rows.stride(1), rows.tile_stride(1), n, count, scratch.data());
      for (int64_t t = 0; t < count; ++t) {
        T* row = scratch.data() + t * n;
        softmax_row<T, Log>(row, row, n);
      }
      store_tile(scratch.data(), out_base + off[0], rows.stride(0), rows.tile_stride(0), n, count);
    });
  });
}

template <class T, bool Log>
void softmax_backward_typed(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out,
                            int64_t dim) {
  const DimRows<3> rows({&grad_in, &grad_out, &out}, dim);
  const int64_t n = rows.length(0);
  if (n == 0) return;
  T* gin_base = grad_in.data_ptr<T>();
  const T* g_base = grad_out.data_ptr<T>();
  const T* y_base = out.data_ptr<T>();
  using Offsets = DimRows<3>::Offsets;
  if (rows.stride(0) == 1 && rows.stride(1) == 1 && rows.stride(2) == 1) {
    rows.parallel(n, [&](int64_t begin, int64_t end) {
      rows.for_rows(begin, end, [&](const Offsets& off) {
        softmax_backward_row<T, Log>(g_base + off[1], y_base + off[2], gin_base + off[0], n);
      });
    });
    return;
  }
  rows.parallel(n, [&](int64_t begin, int64_t end) {
    // [g tile | y tile]; gin overwrites the g tile, which the row math allows.
    std::vector<T> scratch(2 * kTileRows * n);
    T* g_tile = scratch.data();
    T* y_tile = g_tile + kTileRows * n;
    rows.for_row_tiles(begin, end, kTileRows, [&](const Offsets& off, int64_t count) {
      load_tile(g_base + off[1], rows.stride(1), rows.tile_stride(1), n, count, g_tile);
      load_tile(y_base + off[2], rows.stride(2), rows.tile_stride(2), n, count, y_tile);
      for (int64_t t = 0; t < count; ++t)
        softmax_backward_row<T, Log>(g_tile + t * n, y_tile + t * n, g_tile + t * n, n);
      store_tile(g_tile, gin_base + off[0], rows.stride(0), rows.tile_stride(0), n, count);
    });
  });
}

}  // namespace

void softmax(const Tensor& out, const Tensor& in, int64_t dim, bool log) {
  dispatch_floating(in.dtype(), "softmax", [&]<class T>() {
    dispatch_enum<bool, 2>(log, [&]<bool Log>() { softmax_typed<T, Log>(out, in, dim); });
  });
}

void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, int64_t dim,
                      bool log) {
  dispatch_floating(out.dtype(), "softmax_backward", [&]<class T>() {
    dispatch_enum<bool, 2>(
        log, [&]<bool Log>() { softmax_backward_typed<T, Log>(grad_in, grad_out, out, dim); });
  });
}

}  // namespace mixgrad::cpu
