// RMS normalisation over contiguous rows. Each row is read twice per direction (its sum, then
// the element pass) while it is still in cache: one trip to memory where the composite form makes
// five (square, mean, add, rsqrt, two muls) and keeps their temporaries.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/kernels.h"
#include "backends/cpu/parallel.h"
#include "core/dispatch.h"

namespace mixgrad::cpu {

namespace {

// Independent partial sums, so that the loop vectorizes without reassociating a single
// accumulator (which the compiler may not do); combined in a fixed order.
constexpr int64_t kLanes = 8;

template <class F>
double row_sum(int64_t d, F term) {
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= d; i += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) acc[l] += term(i + l);
  for (; i < d; ++i) acc[0] += term(i);
  double s = 0;
  for (int64_t l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

// Rows per parallel chunk: enough elements to be worth a thread.
int64_t row_grain(int64_t d) {
  return std::max<int64_t>(1, kGrainSize / std::max<int64_t>(d, 1));
}

}  // namespace

void rms_norm(const Tensor& out, const Tensor& rstd, const Tensor& x, const Tensor& weight,
              double eps) {
  const int64_t rows = x.size(0), d = x.size(1);
  dispatch_floating(x.dtype(), "rms_norm", [&]<class T>() {
    const T* xp = x.data_ptr<T>();
    const T* w = weight.defined() ? weight.data_ptr<T>() : nullptr;
    T* o = out.data_ptr<T>();
    T* r = rstd.data_ptr<T>();
    parallel_for(rows, row_grain(d), [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        const T* xr = xp + n * d;
        T* orow = o + n * d;
        const double ss = row_sum(d, [xr](int64_t i) {
          const double v = static_cast<double>(xr[i]);
          return v * v;
        });
        const T inv = static_cast<T>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
        r[n] = inv;
        if (w) {
          for (int64_t i = 0; i < d; ++i) orow[i] = xr[i] * inv * w[i];
        } else {
          for (int64_t i = 0; i < d; ++i) orow[i] = xr[i] * inv;
        }
      }
    });
  });
}

void rms_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dy, const Tensor& x,
                       const Tensor& weight, const Tensor& rstd) {
  const int64_t rows = x.size(0), d = x.size(1);
  if (!dx.defined() && !dweight.defined()) return;
  dispatch_floating(x.dtype(), "rms_norm_backward", [&]<class T>() {
    const T* xp = x.data_ptr<T>();
    const T* gp = dy.data_ptr<T>();
    const T* w = weight.defined() ? weight.data_ptr<T>() : nullptr;
    const T* r = rstd.data_ptr<T>();
    T* dxp = dx.defined() ? dx.data_ptr<T>() : nullptr;
    const int64_t workers =
        in_parallel()
            ? 1
            : std::min<int64_t>(get_num_threads(), std::max<int64_t>(1, rows * d / kGrainSize));
    // dweight's partial sums, one row of d per worker (allocated outside the parallel region).
    std::vector<double> partial(dweight.defined() ? static_cast<size_t>(workers * d) : 0);
    const int64_t team = parallel_split(rows, workers, [&](int64_t wk, int64_t begin, int64_t end) {
      double* acc = dweight.defined() ? partial.data() + wk * d : nullptr;
      for (int64_t n = begin; n < end; ++n) {
        const T* xr = xp + n * d;
        const T* gr = gp + n * d;
        const double inv = static_cast<double>(r[n]);
        if (acc) {
          for (int64_t i = 0; i < d; ++i)
            acc[i] += static_cast<double>(gr[i]) * static_cast<double>(xr[i]) * inv;
        }
        if (!dxp) continue;
        // dx = rstd w dy - x rstd^3 mean(w dy x): the second term is rstd's own gradient.
        const double dot = w ? row_sum(d,
                                       [xr, gr, w](int64_t i) {
                                         return static_cast<double>(w[i]) *
                                                static_cast<double>(gr[i]) *
                                                static_cast<double>(xr[i]);
                                       })
                             : row_sum(d, [xr, gr](int64_t i) {
                                 return static_cast<double>(gr[i]) * static_cast<double>(xr[i]);
                               });
        const T k = static_cast<T>(inv),
                c = static_cast<T>(inv * inv * inv * dot / static_cast<double>(d));
        T* dxr = dxp + n * d;
        if (w) {
          for (int64_t i = 0; i < d; ++i) dxr[i] = k * w[i] * gr[i] - c * xr[i];
        } else {
          for (int64_t i = 0; i < d; ++i) dxr[i] = k * gr[i] - c * xr[i];
        }
      }
    });
    if (!dweight.defined()) return;
    T* dw = dweight.data_ptr<T>();
    for (int64_t i = 0; i < d; ++i) {
      double s = 0;
      for (int64_t wk = 0; wk < team; ++wk) s += partial[wk * d + i];
      dw[i] = static_cast<T>(s);
    }
  });
}

}  // namespace mixgrad::cpu
