// CPU 2-D pooling, forward and backward, max and average. Every variant walks the same windows:
// each spatial axis is turned once into a table of input ranges (one per output position, regular
// or adaptive), and the plane loops read the row and column tables. Planes (N * C) run in
// parallel; within a plane everything is serial, so the backward's overlapping windows never race.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "backends/cpu/kernels.h"
#include "backends/cpu/parallel.h"
#include "core/dispatch.h"

namespace mixgrad::cpu {

using kernels::Pool2dParams;
using kernels::PoolAxis;
using kernels::PoolMode;

namespace {

// Input positions begin, begin + step, ... (< end) of one window along one axis; `padded` is the
// window's size counting padded positions (the count_include_pad divisor factor).
struct Window {
  int64_t begin;
  int64_t end;
  int64_t step;
  int64_t padded;
  int64_t count() const { return end - begin; }  // step is 1 wherever a count is asked for
};

std::vector<Window> axis_windows(const PoolAxis& a, int64_t in, int64_t out) {
  std::vector<Window> windows(out);
  for (int64_t o = 0; o < out; ++o) {
    if (a.adaptive) {
      const int64_t begin = o * in / out;
      const int64_t end = ((o + 1) * in + out - 1) / out;
      windows[o] = {begin, end, 1, end - begin};
      continue;
    }
    const int64_t start = o * a.stride - a.padding;
    const int64_t span_end = start + (a.kernel - 1) * a.dilation + 1;
    // First position at or after 0 on the dilation grid.
    int64_t begin = start;
    if (begin < 0) begin += (-begin + a.dilation - 1) / a.dilation * a.dilation;
    const int64_t end = std::min(span_end, in);
    windows[o] = {std::min(begin, end), end, a.dilation,
                  std::min(span_end, in + a.padding) - start};
  }
  return windows;
}

struct PlaneGeometry {
  int64_t planes, in_h, in_w, out_h, out_w;
  std::vector<Window> rows, cols;
};

PlaneGeometry geometry(const Tensor& in, const Tensor& out, const Pool2dParams& p) {
  PlaneGeometry g{in.size(0), in.size(1), in.size(2), out.size(1), out.size(2), {}, {}};
  g.rows = axis_windows(p.h, g.in_h, g.out_h);
  g.cols = axis_windows(p.w, g.in_w, g.out_w);
  return g;
}

// Runs f(plane) for every plane, in parallel once a thread has enough elements to touch.
template <class F>
void for_each_plane(const PlaneGeometry& g, F&& f) {
  const int64_t per_plane = std::max<int64_t>(1, g.in_h * g.in_w + g.out_h * g.out_w);
  const int64_t grain = std::max<int64_t>(1, kGrainSize / per_plane);
  parallel_for(g.planes, grain, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) f(plane);
  });
}

double avg_divisor(const Window& r, const Window& c, const Pool2dParams& p) {
  if (p.divisor_override != 0) return static_cast<double>(p.divisor_override);
  return static_cast<double>(p.count_include_pad ? r.padded * c.padded : r.count() * c.count());
}

// Max of one window: the value and its flat position (-1 for an empty window). A NaN replaces
// whatever was kept, as in PyTorch, so the output is NaN whenever the window holds one. The
// selects are branch-free: on real data which element wins is unpredictable.
template <class T>
struct WindowMax {
  T value;
  int64_t index;
};

template <class T>
WindowMax<T> window_max(const T* in, int64_t width, const Window& r, const Window& c) {
  if (r.begin >= r.end || c.begin >= c.end) {
    if constexpr (std::numeric_limits<T>::has_infinity) {
      return {-std::numeric_limits<T>::infinity(), -1};
    } else {
      return {std::numeric_limits<T>::lowest(), -1};
    }
  }
  int64_t best_index = r.begin * width + c.begin;
  T best = in[best_index];
  for (int64_t h = r.begin; h < r.end; h += r.step) {
    const T* row = in + h * width;
    for (int64_t w = c.begin; w < c.end; w += c.step) {
      const T v = row[w];
      bool take = v > best;
      if constexpr (std::is_floating_point_v<T>) take |= v != v;
      best = take ? v : best;
      best_index = take ? h * width + w : best_index;
    }
  }
  return {best, best_index};
}

// Output columns [begin, end) whose windows are regular and whole (every tap inside the input):
// there column ow's taps are ow * stride - padding + j * dilation, j in [0, kernel). Empty for
// adaptive windows.
struct ColumnRange {
  int64_t begin = 0;
  int64_t end = 0;
};

ColumnRange whole_windows(const PoolAxis& a, const std::vector<Window>& cols) {
  if (a.adaptive) return {};
  const auto whole = [&](int64_t o) {
    const int64_t start = o * a.stride - a.padding;
    return cols[o].begin == start && cols[o].end == start + (a.kernel - 1) * a.dilation + 1;
  };
  ColumnRange range;
  const auto n = static_cast<int64_t>(cols.size());
  while (range.begin < n && !whole(range.begin)) ++range.begin;
  range.end = range.begin;
  while (range.end < n && whole(range.end)) ++range.end;
  return range;
}

// Max over the whole windows of one output row, tap by tap across the row: every column's
// window sees its taps in the same order as window_max, but consecutive columns are independent,
// which keeps the loop free of dependency chains. y and idx point at the row's first output.
// Stride is a template argument when it is 2 (the common 2x2 pool), 0 otherwise: a known stride
// lets the compiler turn the strided loads into vector shuffles.
template <class T, bool Indices, int Stride>
void max_whole_windows(const T* __restrict x, int64_t width, const Window& r, const PoolAxis& a,
                       ColumnRange cols, T* __restrict y, int64_t* __restrict idx) {
  const int64_t s = Stride != 0 ? Stride : a.stride;
  bool first = true;
  for (int64_t h = r.begin; h < r.end; h += r.step) {
    for (int64_t j = 0; j < a.kernel; ++j) {
      const int64_t base = h * width + j * a.dilation - a.padding;
      if (first) {
#pragma omp simd
        for (int64_t ow = cols.begin; ow < cols.end; ++ow) {
          y[ow] = x[base + ow * s];
          if constexpr (Indices) idx[ow] = base + ow * s;
        }
        first = false;
        continue;
      }
#pragma omp simd
      for (int64_t ow = cols.begin; ow < cols.end; ++ow) {
        const T v = x[base + ow * s];
        const T kept = y[ow];
        // Greater, or NaN (bitwise |: both sides are cheap and a branch would not be).
        bool take = v > kept;
        if constexpr (std::is_floating_point_v<T>) take = take | (v != v);
        y[ow] = take ? v : kept;
        if constexpr (Indices) {
          // Mask select: a conditional here compiles to an unpredictable branch.
          const int64_t mask = -static_cast<int64_t>(take);
          idx[ow] = ((base + ow * s) & mask) | (idx[ow] & ~mask);
        }
      }
    }
  }
}

template <class T, PoolMode Mode>
void pool_forward(const Tensor& out, const Tensor& indices, const Tensor& in,
                  const Pool2dParams& p) {
  const PlaneGeometry g = geometry(in, out, p);
  const ColumnRange whole = Mode == PoolMode::Max ? whole_windows(p.w, g.cols) : ColumnRange{};
  const T* in_base = in.data_ptr<T>();
  T* out_base = out.data_ptr<T>();
  int64_t* index_base = indices.defined() ? indices.data_ptr<int64_t>() : nullptr;
  const int64_t in_plane = g.in_h * g.in_w;
  const int64_t out_plane = g.out_h * g.out_w;
  for_each_plane(g, [&](int64_t plane) {
    const T* x = in_base + plane * in_plane;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const Window& r = g.rows[oh];
      T* y = out_base + plane * out_plane + oh * g.out_w;
      int64_t* idx = index_base ? index_base + plane * out_plane + oh * g.out_w : nullptr;
      ColumnRange done;
      if constexpr (Mode == PoolMode::Max) {
        if (r.begin < r.end && whole.begin < whole.end) {
          done = whole;
          const bool stride2 = p.w.stride == 2;
          if (idx) {
            (stride2 ? max_whole_windows<T, true, 2>
                     : max_whole_windows<T, true, 0>)(x, g.in_w, r, p.w, done, y, idx);
          } else {
            (stride2 ? max_whole_windows<T, false, 2>
                     : max_whole_windows<T, false, 0>)(x, g.in_w, r, p.w, done, y, idx);
          }
        }
      }
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        if (ow == done.begin && done.begin < done.end) ow = done.end;
        if (ow >= g.out_w) break;
        const Window& c = g.cols[ow];
        if constexpr (Mode == PoolMode::Max) {
          const WindowMax<T> m = window_max(x, g.in_w, r, c);
          y[ow] = m.value;
          if (idx) idx[ow] = m.index;
        } else {
          double sum = 0;
          for (int64_t h = r.begin; h < r.end; ++h)
            for (int64_t w = c.begin; w < c.end; ++w) sum += x[h * g.in_w + w];
          y[ow] = static_cast<T>(sum / avg_divisor(r, c, p));
        }
      }
    }
  });
}

// Max backward needs only the indices; the windows are not walked again.
template <class T>
void max_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices) {
  const int64_t planes = grad_in.size(0);
  const int64_t in_plane = grad_in.size(1) * grad_in.size(2);
  const int64_t out_plane = grad_out.size(1) * grad_out.size(2);
  T* gin_base = grad_in.data_ptr<T>();
  const T* g_base = grad_out.data_ptr<T>();
  const int64_t* idx_base = indices.data_ptr<int64_t>();
  std::atomic<bool> bad{false};
  const int64_t grain = std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, in_plane));
  parallel_for(planes, grain, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      T* gin = gin_base + plane * in_plane;
      const T* g = g_base + plane * out_plane;
      const int64_t* idx = idx_base + plane * out_plane;
      std::fill(gin, gin + in_plane, T(0));
      for (int64_t o = 0; o < out_plane; ++o) {
        const int64_t at = idx[o];
        if (at >= 0 && at < in_plane) {
          gin[at] += g[o];
        } else if (at != -1) {
          bad.store(true, std::memory_order_relaxed);
        }
      }
    }
  });
  // grad_in is scratch the op discards on error, so finishing the loop first is harmless.
  MG_CHECK(!bad.load(), "max_pool2d_backward", "an index lies outside the ", grad_in.size(1), "x",
           grad_in.size(2), " input plane");
}

template <class T>
void avg_backward(const Tensor& grad_in, const Tensor& grad_out, const Pool2dParams& p) {
  const PlaneGeometry g = geometry(grad_in, grad_out, p);
  T* gin_base = grad_in.data_ptr<T>();
  const T* g_base = grad_out.data_ptr<T>();
  const int64_t in_plane = g.in_h * g.in_w;
  const int64_t out_plane = g.out_h * g.out_w;
  for_each_plane(g, [&](int64_t plane) {
    T* gin = gin_base + plane * in_plane;
    const T* gout = g_base + plane * out_plane;
    std::fill(gin, gin + in_plane, T(0));
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const Window& r = g.rows[oh];
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const Window& c = g.cols[ow];
        const T share = static_cast<T>(gout[oh * g.out_w + ow] / avg_divisor(r, c, p));
        for (int64_t h = r.begin; h < r.end; ++h)
          for (int64_t w = c.begin; w < c.end; ++w) gin[h * g.in_w + w] += share;
      }
    }
  });
}

}  // namespace

void pool2d(PoolMode mode, const Tensor& out, const Tensor& indices, const Tensor& in,
            const Pool2dParams& params) {
  if (mode == PoolMode::Max) {
    dispatch_dtype(in.dtype(), "max_pool2d", [&]<class T>() {
      if constexpr (std::is_same_v<T, bool>) {
        throw Error("max_pool2d", "dtype bool is not supported");
      } else {
        pool_forward<T, PoolMode::Max>(out, indices, in, params);
      }
    });
    return;
  }
  dispatch_floating(in.dtype(), "avg_pool2d",
                    [&]<class T>() { pool_forward<T, PoolMode::Avg>(out, indices, in, params); });
}

void pool2d_backward(PoolMode mode, const Tensor& grad_in, const Tensor& grad_out,
                     const Tensor& indices, const Pool2dParams& params) {
  dispatch_floating(grad_in.dtype(), "pool2d_backward", [&]<class T>() {
    if (mode == PoolMode::Max) {
      max_backward<T>(grad_in, grad_out, indices);
    } else {
      avg_backward<T>(grad_in, grad_out, params);
    }
  });
}

}  // namespace mixgrad::cpu
