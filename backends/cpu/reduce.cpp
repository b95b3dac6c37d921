// CPU reductions: each output element reduces its slice of the input; kept dims are split
// across threads, the reduced dims are walked innermost-first so a contiguous innermost reduced
// dim becomes a unit-stride loop.
#include <cmath>
#include <limits>

#include "backends/cpu/kernels.h"
#include "backends/cpu/parallel.h"
#include "core/dispatch.h"

namespace mixgrad::cpu {

using kernels::ReduceOp;

namespace {

template <class T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double,
                               int64_t>;

// Odometer over (sizes, strides), innermost dim last.
struct Walk {
  Shape sizes, strides;
};

template <class T, class F>
void for_each_offset(const Walk& w, int64_t count, F&& f) {
  // Visits `count` offsets of `w` (its full extent) calling f(offset, linear index).
  const int nd = static_cast<int>(w.sizes.size());
  if (nd == 0) {
    f(int64_t{0}, int64_t{0});
    return;
  }
  std::vector<int64_t> idx(nd, 0);
  int64_t off = 0;
  for (int64_t i = 0; i < count; ++i) {
    f(off, i);
    for (int d = nd - 1; d >= 0; --d) {
      if (++idx[d] < w.sizes[d]) {
        off += w.strides[d];
        break;
      }
      off -= (w.sizes[d] - 1) * w.strides[d];
      idx[d] = 0;
    }
  }
}

int64_t offset_of(int64_t linear, const Shape& sizes, const Shape& strides) {
  int64_t off = 0;
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    off += (linear % sizes[d]) * strides[d];
    linear /= sizes[d];
  }
  return off;
}

template <class T, ReduceOp Op>
void reduce_typed(const Tensor& out, const Tensor& indices, const Tensor& in, const Shape& dims) {
  const int64_t nd = in.dim();
  std::vector<bool> reduced(nd, false);
  for (int64_t d : dims) reduced[d] = true;
  Walk outer_in, outer_out, inner;
  for (int64_t d = 0; d < nd; ++d) {
    if (reduced[d]) {
      inner.sizes.push_back(in.shape()[d]);
      inner.strides.push_back(in.strides()[d]);
    } else {
      outer_in.sizes.push_back(in.shape()[d]);
      outer_in.strides.push_back(in.strides()[d]);
      outer_out.strides.push_back(out.strides()[d]);
    }
  }
  outer_out.sizes = outer_in.sizes;
  const int64_t n_out = numel_of(outer_in.sizes);
  const int64_t n_in = numel_of(inner.sizes);
  const T* src = in.data_ptr<T>();
  T* dst = out.data_ptr<T>();
  int64_t* idx_dst = indices.defined() ? indices.data_ptr<int64_t>() : nullptr;
  const Shape idx_strides = indices.defined() ? indices.strides() : Shape{};
  Shape idx_outer_strides;
  for (int64_t d = 0; d < nd && idx_dst; ++d)
    if (!reduced[d]) idx_outer_strides.push_back(idx_strides[d]);

  // The innermost reduced dim runs as a flat loop; the rest is an odometer.
  const int64_t last_size = inner.sizes.empty() ? 1 : inner.sizes.back();
  const int64_t last_stride = inner.strides.empty() ? 1 : inner.strides.back();
  Walk rest = inner;
  if (!rest.sizes.empty()) {
    rest.sizes.pop_back();
    rest.strides.pop_back();
  }
  const int64_t rest_count = numel_of(rest.sizes);

  const int64_t grain = std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, n_in));
  parallel_for(n_out, grain, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      const T* base = src + offset_of(o, outer_in.sizes, outer_in.strides);
      T* target = dst + offset_of(o, outer_out.sizes, outer_out.strides);
      if constexpr (Op == ReduceOp::Sum || Op == ReduceOp::Prod) {
        Acc<T> acc = Op == ReduceOp::Sum ? Acc<T>(0) : Acc<T>(1);
        for_each_offset<T>(rest, rest_count, [&](int64_t off, int64_t) {
          const T* p = base + off;
          Acc<T> part = Op == ReduceOp::Sum ? Acc<T>(0) : Acc<T>(1);
          if (last_stride == 1) {
            for (int64_t i = 0; i < last_size; ++i) {
              if constexpr (Op == ReduceOp::Sum) part += p[i];
              else part *= p[i];
            }
          } else {
            for (int64_t i = 0; i < last_size; ++i) {
              if constexpr (Op == ReduceOp::Sum) part += p[i * last_stride];
              else part *= p[i * last_stride];
            }
          }
          if constexpr (Op == ReduceOp::Sum) acc += part;
          else acc *= part;
        });
        *target = static_cast<T>(acc);
      } else if constexpr (Op == ReduceOp::Any || Op == ReduceOp::All) {
        bool acc = Op == ReduceOp::All;
        for_each_offset<T>(rest, rest_count, [&](int64_t off, int64_t) {
          const T* p = base + off;
          for (int64_t i = 0; i < last_size; ++i) {
            const bool v = p[i * last_stride] != T(0);
            if constexpr (Op == ReduceOp::Any) acc = acc || v;
            else acc = acc && v;
          }
        });
        *target = static_cast<T>(acc);
      } else {  // Max / Min: first occurrence wins; NaN wins over numbers
        T best = base[0];
        int64_t best_i = 0;
        bool found_nan = false;
        for_each_offset<T>(rest, rest_count, [&](int64_t off, int64_t r) {
          if (found_nan) return;
          const T* p = base + off;
          for (int64_t i = 0; i < last_size; ++i) {
            const T v = p[i * last_stride];
            if constexpr (std::is_floating_point_v<T>) {
              if (v != v) {
                best = v;
                best_i = r * last_size + i;
                found_nan = true;
                return;
              }
            }
            if (Op == ReduceOp::Max ? (v > best) : (v < best)) {
              best = v;
              best_i = r * last_size + i;
            }
          }
        });
        *target = best;
        if (idx_dst) idx_dst[offset_of(o, outer_in.sizes, idx_outer_strides)] = best_i;
      }
    }
  });
}

}  // namespace

void reduce(ReduceOp op, const Tensor& out, const Tensor& indices, const Tensor& in,
            const Shape& dims) {
  dispatch_dtype(in.dtype(), "reduce", [&]<class T>() {
    switch (op) {
      case ReduceOp::Sum: return reduce_typed<T, ReduceOp::Sum>(out, indices, in, dims);
      case ReduceOp::Prod: return reduce_typed<T, ReduceOp::Prod>(out, indices, in, dims);
      case ReduceOp::Max: return reduce_typed<T, ReduceOp::Max>(out, indices, in, dims);
      case ReduceOp::Min: return reduce_typed<T, ReduceOp::Min>(out, indices, in, dims);
      case ReduceOp::Any: return reduce_typed<T, ReduceOp::Any>(out, indices, in, dims);
      case ReduceOp::All: return reduce_typed<T, ReduceOp::All>(out, indices, in, dims);
      default: throw Error("reduce", "unknown reduction");
    }
  });
}

void cumsum(const Tensor& out, const Tensor& in, int64_t dim) {
  dispatch_dtype(in.dtype(), "cumsum", [&]<class T>() {
    const int64_t n = in.shape()[dim];
    const int64_t in_stride = in.strides()[dim], out_stride = out.strides()[dim];
    Shape outer_sizes, in_strides, out_strides;
    for (int64_t d = 0; d < in.dim(); ++d) {
      if (d == dim) continue;
      outer_sizes.push_back(in.shape()[d]);
      in_strides.push_back(in.strides()[d]);
      out_strides.push_back(out.strides()[d]);
    }
    const T* src = in.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    const int64_t rows = numel_of(outer_sizes);
    parallel_for(rows, std::max<int64_t>(1, kGrainSize / std::max<int64_t>(n, 1)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t r = b; r < e; ++r) {
                     const T* p = src + offset_of(r, outer_sizes, in_strides);
                     T* q = dst + offset_of(r, outer_sizes, out_strides);
                     Acc<T> acc = 0;
                     for (int64_t i = 0; i < n; ++i) {
                       acc += p[i * in_stride];
                       q[i * out_stride] = static_cast<T>(acc);
                     }
                   }
                 });
  });
}

}  // namespace mixgrad::cpu
