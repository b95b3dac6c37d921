// CUDA kernels of batch norm and group norm on contiguous [B, C, S] (contracts in
// backends/kernels.h, reference backends/cpu/normalization.cpp).
//
// Per-channel sums: each channel is one slot of a group (group_reduce.cuh) whose lanes walk its
// B * S elements; terms are computed in the accumulation type of T and summed in double. Long
// channels (S >= 16) get neighbouring lanes, so a warp reads a run of one channel; short ones
// ([N, C] batch norm has S = 1) put 32 neighbouring channels in a warp instead. When there are
// too few channels to fill the device, each channel also splits across gridDim.y. Every part
// writes its pair of sums to a scratch buffer, and a second kernel adds the parts in order and
// produces the outputs, so results do not depend on timing.
#include <algorithm>
#include <cstdint>

#include "backends/cuda/common.cuh"
#include "backends/cuda/group_reduce.cuh"
#include "backends/cuda/kernels.h"

namespace mixgrad::cuda {

namespace {

struct Dims {
  int64_t B, C, S;
};

struct SumPair {
  double u;
  double v;
};

struct AddPairs {
  __device__ SumPair operator()(const SumPair& a, const SumPair& b) const {
    return {a.u + b.u, a.v + b.v};
  }
};

// x - shift and its square, shift being the channel's first element: sums of shifted values
// keep the variance accurate when the mean is large against the spread.
template <class T>
struct ShiftedMoments {
  const T* x;
  int64_t S;
  bool empty;  // channels without elements: nothing to read
  struct Channel {
    const T* x;
    acc_t<T> k;
    __device__ acc_t<T> u(int64_t i) const { return convert<acc_t<T>>(x[i]) - k; }
    __device__ acc_t<T> v(int64_t i) const {
      const acc_t<T> d = convert<acc_t<T>>(x[i]) - k;
      return d * d;
    }
  };
  __device__ Channel channel(int64_t c) const {
    return {x, empty ? acc_t<T>(0) : convert<acc_t<T>>(x[c * S])};
  }
};

// dy and dy * (x - mean[c]) (mean 0 when absent).
template <class T>
struct GradTerms {
  const T* dy;
  const T* x;
  const T* mean;  // may be null
  struct Channel {
    const T* dy;
    const T* x;
    acc_t<T> m;
    __device__ acc_t<T> u(int64_t i) const { return convert<acc_t<T>>(dy[i]); }
    __device__ acc_t<T> v(int64_t i) const {
      return convert<acc_t<T>>(dy[i]) * (convert<acc_t<T>>(x[i]) - m);
    }
  };
  __device__ Channel channel(int64_t c) const {
    return {dy, x, mean ? convert<acc_t<T>>(mean[c]) : acc_t<T>(0)};
  }
};

// partials[c * gridDim.y + part] = the sums of part `part` of channel c's elements.
template <class Terms>
__global__ void channel_sums_kernel(Dims d, int64_t chunk, GroupLayout g, Terms terms,
                                    SumPair* partials) {
  __shared__ SumPair scratch[kGroupScratch];
  const int64_t count = d.B * d.S;
  const int64_t part = blockIdx.y;
  const int64_t begin = part * chunk;
  const int64_t end = begin + chunk < count ? begin + chunk : count;
  const int64_t slots = g.slots();
  // Block-uniform loop bounds, as group_reduce's barriers need.
  for (int64_t first = blockIdx.x * slots; first < d.C; first += gridDim.x * slots) {
    const int64_t c = first + g.slot();
    SumPair st{0.0, 0.0};
    if (c < d.C) {
      const auto ch = terms.channel(c);
      for (int64_t j = begin + g.lane(); j < end; j += g.lanes) {
        const int64_t b = j / d.S;
        const int64_t i = (b * d.C + c) * d.S + (j - b * d.S);
        st.u += static_cast<double>(ch.u(i));
        st.v += static_cast<double>(ch.v(i));
      }
    }
    st = group_reduce(st, g, scratch, AddPairs{});
    if (c < d.C && g.lane() == 0) partials[c * gridDim.y + part] = st;
  }
}

// Adds each channel's parts in order and hands the totals to finish(c, total).
template <class Finish>
__global__ void channel_finish_kernel(int64_t channels, int64_t parts, const SumPair* partials,
                                      Finish finish) {
  MG_CUDA_KERNEL_LOOP(c, channels) {
    SumPair total = partials[c * parts];
    for (int64_t k = 1; k < parts; ++k) total = AddPairs{}(total, partials[c * parts + k]);
    finish(c, total);
  }
}

template <class T>
struct FinishMoments {
  T* mean;
  T* var;
  const T* x;
  int64_t S;
  int64_t count;
  __device__ void operator()(int64_t c, const SumPair& sums) const {
    const double k = count > 0 ? static_cast<double>(convert<acc_t<T>>(x[c * S])) : 0.0;
    const double n = static_cast<double>(count);
    const double offset = sums.u / n;  // NaN for an empty channel, as on the CPU
    const double v = sums.v / n - offset * offset;
    mean[c] = convert<T>(k + offset);
    // As on the CPU: rounding may make v slightly negative; an empty channel's NaN stays.
    var[c] = convert<T>(v < 0.0 ? 0.0 : v);
  }
};

template <class T>
struct FinishSums {
  T* sum_u;
  T* sum_v;
  __device__ void operator()(int64_t c, const SumPair& sums) const {
    sum_u[c] = convert<T>(sums.u);
    sum_v[c] = convert<T>(sums.v);
  }
};

Dims dims_of(const Tensor& x) {
  return {x.size(0), x.size(1), x.size(2)};
}

template <class Terms, class Finish>
void channel_sums(const Tensor& x, const Dims& d, const Terms& terms, const Finish& finish) {
  if (d.C == 0) return;
  const int64_t count = d.B * d.S;
  constexpr int64_t kShortRow = 16;
  const GroupLayout g = choose_layout(count, d.S < kShortRow && count > 1);
  const int64_t blocks = std::min<int64_t>((d.C + g.slots() - 1) / g.slots(), kMaxGroupBlocks);
  const Splits splits = plan_splits(blocks, count, g.lanes, x.device().index);
  const Tensor scratch =
      workspace(static_cast<std::size_t>(d.C * splits.count) * sizeof(SumPair), x);
  auto* partials = data_of<SumPair>(scratch);
  cudaStream_t stream = stream_of(x);
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(splits.count));
  channel_sums_kernel<<<grid, kThreads, 0, stream>>>(d, splits.chunk, g, terms, partials);
  MG_CUDA_LAUNCH_CHECK();
  channel_finish_kernel<<<blocks_for(d.C), kThreads, 0, stream>>>(d.C, splits.count, partials,
                                                                  finish);
  MG_CUDA_LAUNCH_CHECK();
}

// out = x * a[c] + y * b[c] + shift[c]; y (with b) and shift may be null. out may alias x (each
// element is read and written by one thread).
template <class T>
__global__ void affine_kernel(Dims d, T* out, const T* x, const T* a, const T* y, const T* b,
                              const T* shift) {
  using A = acc_t<T>;
  MG_CUDA_KERNEL_LOOP(i, d.B * d.C * d.S) {
    const int64_t c = (i / d.S) % d.C;
    A r = convert<A>(x[i]) * convert<A>(a[c]);
    if (y) r += convert<A>(y[i]) * convert<A>(b[c]);
    if (shift) r += convert<A>(shift[c]);
    out[i] = convert<T>(r);
  }
}

template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? data_of<const T>(t) : nullptr;
}

}  // namespace

void norm_moments(const Tensor& mean, const Tensor& var, const Tensor& x) {
  TensorDeviceGuard guard(x);
  const Dims d = dims_of(x);
  dispatch_cuda_floating(x.dtype(), "norm_moments", [&]<class T>() {
    const T* px = data_of<const T>(x);
    const int64_t count = d.B * d.S;
    channel_sums(x, d, ShiftedMoments<T>{px, d.S, count == 0},
                 FinishMoments<T>{data_of<T>(mean), data_of<T>(var), px, d.S, count});
  });
}

void norm_affine(const Tensor& out, const Tensor& x, const Tensor& x_scale, const Tensor& y,
                 const Tensor& y_scale, const Tensor& shift) {
  TensorDeviceGuard guard(x);
  const Dims d = dims_of(x);
  const int64_t n = d.B * d.C * d.S;
  if (n == 0) return;
  dispatch_cuda_floating(x.dtype(), "norm_affine", [&]<class T>() {
    affine_kernel<T><<<blocks_for(n), kThreads, 0, stream_of(x)>>>(
        d, data_of<T>(out), data_of<const T>(x), data_of<const T>(x_scale), data_or_null<T>(y),
        y.defined() ? data_of<const T>(y_scale) : nullptr, data_or_null<T>(shift));
    MG_CUDA_LAUNCH_CHECK();
  });
}

void norm_backward_sums(const Tensor& sum_dy, const Tensor& sum_dy_xc, const Tensor& dy,
                        const Tensor& x, const Tensor& mean) {
  TensorDeviceGuard guard(x);
  const Dims d = dims_of(x);
  dispatch_cuda_floating(x.dtype(), "norm_backward_sums", [&]<class T>() {
    channel_sums(x, d,
                 GradTerms<T>{data_of<const T>(dy), data_of<const T>(x), data_or_null<T>(mean)},
                 FinishSums<T>{data_of<T>(sum_dy), data_of<T>(sum_dy_xc)});
  });
}

}  // namespace mixgrad::cuda
