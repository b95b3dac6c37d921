// CPU kernels of batch norm and group norm on contiguous [B, C, S] views (see backends/kernels.h):
// per-channel sums (vectorised partial sums in T, accumulated in double), and one fused
// element-wise pass. Threads own disjoint channel ranges, so every sum is computed by one thread
// in a fixed order and results do not depend on the thread count.
#include <algorithm>
#include <vector>

#include "backends/cpu/kernels.h"
#include "backends/cpu/parallel.h"
#include "core/dispatch.h"

namespace mixgrad::cpu {

namespace {

struct Dims {
  int64_t B, C, S;
};

Dims dims_of(const Tensor& x) {
  return {x.size(0), x.size(1), x.size(2)};
}

// Rows shorter than this ([N, C] batch norm has rows of one element) are summed column-wise: for
// each b, all of a thread's (c, s) columns at once, so memory is walked with unit stride.
constexpr int64_t kShortRow = 16;
// Long rows are summed in T (vectorised) over chunks of this many elements, and the chunk sums
// in double: float speed, with a rounding error of a 256-term float sum at worst.
constexpr int64_t kChunk = 256;

// Channels per parallel chunk, so that a chunk holds about kGrainSize elements.
int64_t channel_grain(const Dims& d) {
  return std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, d.B * d.S));
}

// For every channel c: u[c] and v[c] = the sums of terms.channel(c).u(i) and .v(i) over the
// channel's flat indices i into [B, C, S].
template <class T, class Terms>
void channel_sums(const Dims& d, const Terms& terms, double* u, double* v) {
  parallel_for(d.C, channel_grain(d), [&](int64_t c0, int64_t c1) {
    if (d.S >= kShortRow) {
      for (int64_t c = c0; c < c1; ++c) {
        const auto ch = terms.channel(c);
        double su = 0, sv = 0;
        for (int64_t b = 0; b < d.B; ++b) {
          const int64_t base = (b * d.C + c) * d.S;
          for (int64_t s0 = 0; s0 < d.S; s0 += kChunk) {
            const int64_t s1 = std::min(d.S, s0 + kChunk);
            T cu = 0, cv = 0;
#pragma omp simd reduction(+ : cu, cv)
            for (int64_t i = base + s0; i < base + s1; ++i) {
              cu += ch.u(i);
              cv += ch.v(i);
            }
            su += cu;
            sv += cv;
          }
        }
        u[c] = su;
        v[c] = sv;
      }
      return;
    }
    const int64_t width = (c1 - c0) * d.S;
    std::vector<double> cu(width, 0.0), cv(width, 0.0);
    for (int64_t b = 0; b < d.B; ++b) {
      const int64_t base = (b * d.C + c0) * d.S;
      for (int64_t c = c0; c < c1; ++c) {
        const auto ch = terms.channel(c);
        for (int64_t s = 0; s < d.S; ++s) {
          const int64_t j = (c - c0) * d.S + s;
          cu[j] += ch.u(base + j);
          cv[j] += ch.v(base + j);
        }
      }
    }
    for (int64_t c = c0; c < c1; ++c) {
      double su = 0, sv = 0;
      for (int64_t s = 0; s < d.S; ++s) {
        su += cu[(c - c0) * d.S + s];
        sv += cv[(c - c0) * d.S + s];
      }
      u[c] = su;
      v[c] = sv;
    }
  });
}

// x - shift[c] and its square: sums of values shifted by one of the channel's own elements keep
// the variance accurate when the mean is large against the spread.
template <class T>
struct ShiftedMoments {
  const T* x;
  const T* shift;
  struct Channel {
    const T* x;
    T k;
    T u(int64_t i) const { return x[i] - k; }
    T v(int64_t i) const { return (x[i] - k) * (x[i] - k); }
  };
  Channel channel(int64_t c) const { return {x, shift[c]}; }
};

// dy and dy * (x - mean[c]).
template <class T>
struct GradTerms {
  const T* dy;
  const T* x;
  const T* mean;
  struct Channel {
    const T* dy;
    const T* x;
    T m;
    T u(int64_t i) const { return dy[i]; }
    T v(int64_t i) const { return dy[i] * (x[i] - m); }
  };
  Channel channel(int64_t c) const { return {dy, x, mean[c]}; }
};

// The [n] values of t (zeros when undefined), as T.
template <class T>
std::vector<T> values_or_zeros(const Tensor& t, int64_t n) {
  if (!t.defined()) return std::vector<T>(n, T(0));
  const T* p = t.data_ptr<T>();
  return std::vector<T>(p, p + n);
}

template <class T>
void store(const Tensor& t, const std::vector<double>& values) {
  T* p = t.data_ptr<T>();
  for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
}

}  // namespace

void norm_moments(const Tensor& mean, const Tensor& var, const Tensor& x) {
  const Dims d = dims_of(x);
  dispatch_floating(x.dtype(), "norm_moments", [&]<class T>() {
    const T* px = x.data_ptr<T>();
    std::vector<T> shift(d.C, T(0));
    std::vector<double> su(d.C), sv(d.C);
    if (d.B * d.S > 0)
      for (int64_t c = 0; c < d.C; ++c) shift[c] = px[c * d.S];
    channel_sums<T>(d, ShiftedMoments<T>{px, shift.data()}, su.data(), sv.data());
    const double count = static_cast<double>(d.B * d.S);
    std::vector<double> m(d.C), v(d.C);
    for (int64_t c = 0; c < d.C; ++c) {
      const double offset = su[c] / count;
      m[c] = shift[c] + offset;
      // Rounding may leave the variance slightly negative; an empty channel's NaN stays.
      const double variance = sv[c] / count - offset * offset;
      v[c] = variance < 0.0 ? 0.0 : variance;
    }
    store<T>(mean, m);
    store<T>(var, v);
  });
}

void norm_affine(const Tensor& out, const Tensor& x, const Tensor& x_scale, const Tensor& y,
                 const Tensor& y_scale, const Tensor& shift) {
  const Dims d = dims_of(x);
  dispatch_floating(x.dtype(), "norm_affine", [&]<class T>() {
    const T* px = x.data_ptr<T>();
    const T* py = y.defined() ? y.data_ptr<T>() : nullptr;
    const T* pa = x_scale.data_ptr<T>();
    const T* pb = y.defined() ? y_scale.data_ptr<T>() : nullptr;
    const T* pc = shift.defined() ? shift.data_ptr<T>() : nullptr;
    T* po = out.data_ptr<T>();
    const int64_t rows = d.B * d.C;
    parallel_for(rows, std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, d.S)),
                 [&](int64_t r0, int64_t r1) {
                   for (int64_t r = r0; r < r1; ++r) {
                     const int64_t c = r % d.C;
                     const T a = pa[c];
                     const T sh = pc ? pc[c] : T(0);
                     const T* xr = px + r * d.S;
                     T* orow = po + r * d.S;
                     if (py) {
                       const T bc = pb[c];
                       const T* yr = py + r * d.S;
#pragma omp simd
                       for (int64_t s = 0; s < d.S; ++s) orow[s] = xr[s] * a + yr[s] * bc + sh;
                     } else {
#pragma omp simd
                       for (int64_t s = 0; s < d.S; ++s) orow[s] = xr[s] * a + sh;
                     }
                   }
                 });
  });
}

void norm_backward_sums(const Tensor& sum_dy, const Tensor& sum_dy_xc, const Tensor& dy,
                        const Tensor& x, const Tensor& mean) {
  const Dims d = dims_of(x);
  dispatch_floating(x.dtype(), "norm_backward_sums", [&]<class T>() {
    const std::vector<T> m = values_or_zeros<T>(mean, d.C);
    std::vector<double> su(d.C), sv(d.C);
    channel_sums<T>(d, GradTerms<T>{dy.data_ptr<T>(), x.data_ptr<T>(), m.data()}, su.data(),
                    sv.data());
    store<T>(sum_dy, su);
    store<T>(sum_dy_xc, sv);
  });
}

}  // namespace mixgrad::cpu
