// CUDA 2-D pooling, forward and backward, max and average (contracts in backends/kernels.h,
// reference semantics in backends/cpu/pool.cpp).
//
// Forward: one thread per output element walks its window. Avg backward: one thread per input
// element gathers the share of every window covering it (no atomics; windows are visited in the
// CPU's order, so float32 results match it). Max backward: grad_in is zeroed and each output
// element adds its gradient at its recorded index with atomicAdd, since the windows (and so the
// indices) may overlap while the params, which a gather would need, are not given.
#include <cmath>
#include <limits>
#include <type_traits>

#include "backends/cuda/common.cuh"
#include "backends/cuda/kernels.h"
#include "core/deterministic.h"

namespace mixgrad::cuda {

using kernels::Pool2dParams;
using kernels::PoolAxis;
using kernels::PoolMode;

namespace {

// Input positions begin, begin + step, ... (< end) of one window along one axis; `padded` is the
// window's size counting padded positions (the count_include_pad divisor factor).
struct Window {
  int64_t begin, end, step, padded;
};

// Window o of `out` along an axis of `in` positions (as axis_windows on the CPU).
__device__ inline Window axis_window(const PoolAxis& a, int64_t in, int64_t out, int64_t o) {
  if (a.adaptive) {
    const int64_t begin = o * in / out;
    const int64_t end = ((o + 1) * in + out - 1) / out;
    return {begin, end, 1, end - begin};
  }
  const int64_t start = o * a.stride - a.padding;
  const int64_t span_end = start + (a.kernel - 1) * a.dilation + 1;
  // First position at or after 0 on the dilation grid.
  int64_t begin = start;
  if (begin < 0) begin += (-begin + a.dilation - 1) / a.dilation * a.dilation;
  const int64_t end = span_end < in ? span_end : in;
  return {begin < end ? begin : end, end, a.dilation,
          (span_end < in + a.padding ? span_end : in + a.padding) - start};
}

// A range of output positions [first, last) that contains every window covering input position
// `pos` (and possibly a few more, which the caller tests against the window itself).
struct OutRange {
  int64_t first, last;
};

__device__ inline OutRange covering_windows(const PoolAxis& a, int64_t in, int64_t out,
                                            int64_t pos) {
  int64_t first, last;
  if (a.adaptive) {
    // Window o ends after pos iff o >= floor(pos * out / in); it starts at or before pos iff
    // o < ceil((pos + 1) * out / in).
    first = pos * out / in;
    last = ((pos + 1) * out + in - 1) / in;
  } else {
    // start(o) <= pos and pos <= start(o) + (kernel - 1) * dilation, start(o) = o * stride - pad.
    const int64_t hi = pos + a.padding;  // >= 0
    const int64_t lo = hi - (a.kernel - 1) * a.dilation;
    first = lo <= 0 ? 0 : (lo + a.stride - 1) / a.stride;
    last = hi / a.stride + 1;
  }
  return {first < 0 ? 0 : first, last < out ? last : out};
}

struct PoolShape {
  int64_t in_h, in_w, out_h, out_w;
  Pool2dParams p;
};

PoolShape pool_shape(const Tensor& in, const Tensor& out, const Pool2dParams& p) {
  return {in.size(1), in.size(2), out.size(1), out.size(2), p};
}

__device__ inline double avg_divisor(const Window& r, const Window& c, const Pool2dParams& p) {
  if (p.divisor_override != 0) return static_cast<double>(p.divisor_override);
  return static_cast<double>(p.count_include_pad ? r.padded * c.padded
                                                 : (r.end - r.begin) * (c.end - c.begin));
}

// The value an empty max window gives.
template <class T>
__device__ inline T empty_max() {
  if constexpr (std::is_integral_v<T>) {
    return std::numeric_limits<T>::lowest();
  } else {
    return convert<T>(-INFINITY);
  }
}

// Max pooling: the first maximum wins, a NaN replaces whatever was kept (so the last NaN's
// index is recorded, as on the CPU).
template <class T>
__global__ void max_pool_kernel(T* __restrict__ out, int64_t* __restrict__ indices,
                                const T* __restrict__ in, PoolShape s, int64_t total) {
  using A = acc_t<T>;
  const int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w;
  MG_CUDA_KERNEL_LOOP(e, total) {
    const int64_t plane = e / out_plane, pos = e - plane * out_plane;
    const int64_t oh = pos / s.out_w, ow = pos - oh * s.out_w;
    const Window r = axis_window(s.p.h, s.in_h, s.out_h, oh);
    const Window c = axis_window(s.p.w, s.in_w, s.out_w, ow);
    T result = empty_max<T>();
    int64_t best_index = -1;
    if (r.begin < r.end && c.begin < c.end) {
      const T* x = in + plane * in_plane;
      best_index = r.begin * s.in_w + c.begin;
      A best = convert<A>(x[best_index]);
      for (int64_t h = r.begin; h < r.end; h += r.step) {
        for (int64_t w = c.begin; w < c.end; w += c.step) {
          const A v = convert<A>(x[h * s.in_w + w]);
          bool take = v > best;
          if constexpr (!std::is_integral_v<T>) take |= v != v;
          if (take) {
            best = v;
            best_index = h * s.in_w + w;
          }
        }
      }
      result = x[best_index];
    }
    out[e] = result;
    if (indices != nullptr) indices[e] = best_index;
  }
}

// Average pooling. Sums run in double, as on the CPU, so float32 results match it exactly.
template <class T>
__global__ void avg_pool_kernel(T* __restrict__ out, const T* __restrict__ in, PoolShape s,
                                int64_t total) {
  const int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w;
  MG_CUDA_KERNEL_LOOP(e, total) {
    const int64_t plane = e / out_plane, pos = e - plane * out_plane;
    const int64_t oh = pos / s.out_w, ow = pos - oh * s.out_w;
    const Window r = axis_window(s.p.h, s.in_h, s.out_h, oh);
    const Window c = axis_window(s.p.w, s.in_w, s.out_w, ow);
    const T* x = in + plane * in_plane;
    double sum = 0;
    // Every position of [begin, end), as the CPU's average (which ignores the dilation step).
    for (int64_t h = r.begin; h < r.end; ++h)
      for (int64_t w = c.begin; w < c.end; ++w) sum += convert<double>(x[h * s.in_w + w]);
    out[e] = convert<T>(sum / avg_divisor(r, c, s.p));
  }
}

// Gradient of average pooling, gathered: each window covering the element passes
// grad_out / divisor, rounded to T and summed in window order (oh, then ow) as on the CPU.
template <class T>
__global__ void avg_pool_backward_kernel(T* __restrict__ grad_in, const T* __restrict__ grad_out,
                                         PoolShape s, int64_t total) {
  using A = acc_t<T>;
  const int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w;
  MG_CUDA_KERNEL_LOOP(e, total) {
    const int64_t plane = e / in_plane, pos = e - plane * in_plane;
    const int64_t h = pos / s.in_w, w = pos - h * s.in_w;
    const T* g = grad_out + plane * out_plane;
    const OutRange rows = covering_windows(s.p.h, s.in_h, s.out_h, h);
    const OutRange cols = covering_windows(s.p.w, s.in_w, s.out_w, w);
    A sum = A(0);
    for (int64_t oh = rows.first; oh < rows.last; ++oh) {
      const Window r = axis_window(s.p.h, s.in_h, s.out_h, oh);
      if (h < r.begin || h >= r.end) continue;
      for (int64_t ow = cols.first; ow < cols.last; ++ow) {
        const Window c = axis_window(s.p.w, s.in_w, s.out_w, ow);
        if (w < c.begin || w >= c.end) continue;
        const double share = convert<double>(g[oh * s.out_w + ow]) / avg_divisor(r, c, s.p);
        sum += convert<A>(convert<T>(share));
      }
    }
    grad_in[e] = convert<T>(sum);
  }
}

// grad_in (zeroed) += grad_out through indices; an index outside [-1, in_plane) is reported.
template <class T>
__global__ void max_pool_backward_kernel(T* grad_in, const T* __restrict__ grad_out,
                                         const int64_t* __restrict__ indices, int64_t in_plane,
                                         int64_t out_plane, int64_t total, IndexCheck::Slot check) {
  MG_CUDA_KERNEL_LOOP(e, total) {
    const int64_t at = indices[e];
    if (at >= 0 && at < in_plane) {
      atomicAdd(grad_in + e / out_plane * in_plane + at, grad_out[e]);
    } else if (at != -1) {
      check.report(at);
    }
  }
}

// Only reports indices outside [-1, in_plane) (the deterministic path's first pass).
__global__ void max_pool_check_kernel(const int64_t* __restrict__ indices, int64_t in_plane,
                                      int64_t total, IndexCheck::Slot check) {
  MG_CUDA_KERNEL_LOOP(e, total) {
    const int64_t at = indices[e];
    if (at < -1 || at >= in_plane) check.report(at);
  }
}

// Deterministic gradient of max pooling, gathered: each input element sums grad_out over the
// windows covering it whose recorded maximum it is, in window order (oh, then ow), which is the
// order the CPU's scatter adds them in. Valid because the indices come from the forward over the
// same windows (pool2d_backward gets that forward's params).
template <class T>
__global__ void max_pool_backward_gather_kernel(T* __restrict__ grad_in,
                                                const T* __restrict__ grad_out,
                                                const int64_t* __restrict__ indices, PoolShape s,
                                                int64_t total) {
  using A = acc_t<T>;
  const int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w;
  MG_CUDA_KERNEL_LOOP(e, total) {
    const int64_t plane = e / in_plane, pos = e - plane * in_plane;
    const int64_t h = pos / s.in_w, w = pos - h * s.in_w;
    const T* g = grad_out + plane * out_plane;
    const int64_t* idx = indices + plane * out_plane;
    const OutRange rows = covering_windows(s.p.h, s.in_h, s.out_h, h);
    const OutRange cols = covering_windows(s.p.w, s.in_w, s.out_w, w);
    A sum = A(0);
    for (int64_t oh = rows.first; oh < rows.last; ++oh)
      for (int64_t ow = cols.first; ow < cols.last; ++ow)
        if (idx[oh * s.out_w + ow] == pos) sum += convert<A>(g[oh * s.out_w + ow]);
    grad_in[e] = convert<T>(sum);
  }
}

template <class T>
void max_pool_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices,
                       const Pool2dParams& params) {
  const cudaStream_t stream = stream_of(grad_in);
  const int64_t total = grad_out.numel();
  const int64_t in_plane = grad_in.size(1) * grad_in.size(2);
  const IndexCheck check(grad_in);
  if (deterministic_algorithms()) {
    if (total > 0) {
      max_pool_check_kernel<<<blocks_for(total), kThreads, 0, stream>>>(
          data_of<const int64_t>(indices), in_plane, total, check.slot());
      MG_CUDA_LAUNCH_CHECK();
    }
    max_pool_backward_gather_kernel<T><<<blocks_for(grad_in.numel()), kThreads, 0, stream>>>(
        data_of<T>(grad_in), data_of<const T>(grad_out), data_of<const int64_t>(indices),
        pool_shape(grad_in, grad_out, params), grad_in.numel());
    MG_CUDA_LAUNCH_CHECK();
    MG_CHECK(!check.reported(), "max_pool2d_backward", "an index lies outside the ",
             grad_in.size(1), "x", grad_in.size(2), " input plane");
    return;
  }
  MG_CUDA_CHECK(cudaMemsetAsync(grad_in.data_ptr(), 0, grad_in.numel() * sizeof(T), stream));
  if (total == 0) return;
  max_pool_backward_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(
      data_of<T>(grad_in), data_of<const T>(grad_out), data_of<const int64_t>(indices), in_plane,
      grad_out.size(1) * grad_out.size(2), total, check.slot());
  MG_CUDA_LAUNCH_CHECK();
  MG_CHECK(!check.reported(), "max_pool2d_backward", "an index lies outside the ", grad_in.size(1),
           "x", grad_in.size(2), " input plane");
}

}  // namespace

void pool2d(PoolMode mode, const Tensor& out, const Tensor& indices, const Tensor& in,
            const Pool2dParams& params) {
  const int64_t total = out.numel();
  if (total == 0) return;
  TensorDeviceGuard guard(out);
  const cudaStream_t stream = stream_of(out);
  const PoolShape shape = pool_shape(in, out, params);
  if (mode == PoolMode::Max) {
    dispatch_cuda_dtype(in.dtype(), "max_pool2d", [&]<class T>() {
      if constexpr (std::is_same_v<T, bool>) {
        throw Error("max_pool2d", "dtype bool is not supported");
      } else {
        max_pool_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(
            data_of<T>(out), indices.defined() ? data_of<int64_t>(indices) : nullptr,
            data_of<const T>(in), shape, total);
        MG_CUDA_LAUNCH_CHECK();
      }
    });
    return;
  }
  dispatch_cuda_floating(in.dtype(), "avg_pool2d", [&]<class T>() {
    avg_pool_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(
        data_of<T>(out), data_of<const T>(in), shape, total);
    MG_CUDA_LAUNCH_CHECK();
  });
}

void pool2d_backward(PoolMode mode, const Tensor& grad_in, const Tensor& grad_out,
                     const Tensor& indices, const Pool2dParams& params) {
  const int64_t total = grad_in.numel();
  if (total == 0) return;
  TensorDeviceGuard guard(grad_in);
  dispatch_cuda_floating(grad_in.dtype(), "pool2d_backward", [&]<class T>() {
    if (mode == PoolMode::Max) return max_pool_backward<T>(grad_in, grad_out, indices, params);
    avg_pool_backward_kernel<T><<<blocks_for(total), kThreads, 0, stream_of(grad_in)>>>(
        data_of<T>(grad_in), data_of<const T>(grad_out), pool_shape(grad_in, grad_out, params),
        total);
    MG_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace mixgrad::cuda
