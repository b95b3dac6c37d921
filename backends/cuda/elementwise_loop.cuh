#pragma once
// The CUDA backend's element-wise launcher, the counterpart of backends/cpu/loop.h:
// map_elements<Out, In...>(out, f, in...) writes out = f(in...) for operands viewed with out's
// shape (broadcast dims have stride 0). Dims that are contiguous for every operand are merged on
// the host first (kernels::StridedPlan, as on the CPU), so the per-element offset arithmetic (a
// 64-bit division per dim) is paid only for the dims that really differ. Fully contiguous operands
// skip it altogether and, when every pointer is aligned, move kPack elements per load and store.
//
// f is a functor with a __device__ `Out operator()(In...) const`, passed to kernels by value.
#include <cstdint>
#include <utility>

#include "backends/cuda/common.cuh"
#include "backends/strided_plan.h"

namespace mixgrad::cuda {

namespace elementwise_detail {

inline constexpr int kPack = 4;

template <class T>
struct alignas(sizeof(T) * kPack) Pack {
  T v[kPack];
};

template <class T>
struct StridedOperand {
  T* ptr;
  StridedOffsets at;
};

template <class Out, class F, class... In>
__global__ void map_contiguous_kernel(int64_t n, F f, Out* out, const In*... in) {
  MG_CUDA_KERNEL_LOOP(i, n) out[i] = f(in[i]...);
}

template <class Out, class F, class... In>
__device__ void map_pack(Out* out, const F& f, const Pack<In>&... in) {
  Pack<Out> r;
#pragma unroll
  for (int j = 0; j < kPack; ++j) r.v[j] = f(in.v[j]...);
  *reinterpret_cast<Pack<Out>*>(out) = r;
}

// Every pointer is aligned to its Pack; the last n % kPack elements go one per thread.
template <class Out, class F, class... In>
__global__ void map_vectorized_kernel(int64_t n, F f, Out* out, const In*... in) {
  const int64_t packs = n / kPack;
  MG_CUDA_KERNEL_LOOP(i, packs) {
    const int64_t first = i * kPack;
    map_pack(out + first, f, *reinterpret_cast<const Pack<In>*>(in + first)...);
  }
  const int64_t tail = packs * kPack + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (tail < n) out[tail] = f(in[tail]...);
}

// out must not have broadcast (stride 0) dims: two threads would write one element.
template <class Out, class F, class... In>
__global__ void map_strided_kernel(int64_t n, F f, StridedOperand<Out> out,
                                   StridedOperand<const In>... in) {
  MG_CUDA_KERNEL_LOOP(i, n) out.ptr[out.at(i)] = f(in.ptr[in.at(i)]...);
}

template <class T>
bool pack_aligned(const T* p) {
  return reinterpret_cast<std::uintptr_t>(p) % alignof(Pack<T>) == 0;
}

}  // namespace elementwise_detail

// out = f(in...) element by element; operands have out's shape (broadcast dims stride 0) and
// the C++ storage types Out, In...; runs on out's device and stream.
template <class Out, class... In, class F>
void map_elements(const Tensor& out, F f, const auto&... inputs) {
  namespace d = elementwise_detail;
  static_assert(sizeof...(In) == sizeof...(inputs));
  const int64_t n = out.numel();
  if (n == 0) return;
  TensorDeviceGuard guard(out);
  const cudaStream_t stream = stream_of(out);
  constexpr int N = 1 + sizeof...(In);
  const kernels::StridedPlan<N> m({&out, &inputs...});
  Out* o = data_of<Out>(out);
  if (m.contiguous()) {
    if ((d::pack_aligned(o) && ... && d::pack_aligned(data_of<const In>(inputs)))) {
      d::map_vectorized_kernel<Out, F, In...>
          <<<blocks_for((n + d::kPack - 1) / d::kPack), kThreads, 0, stream>>>(
              n, f, o, data_of<const In>(inputs)...);
    } else {
      d::map_contiguous_kernel<Out, F, In...>
          <<<blocks_for(n), kThreads, 0, stream>>>(n, f, o, data_of<const In>(inputs)...);
    }
  } else {
    const Shape sizes = m.outer_sizes();
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      d::map_strided_kernel<Out, F, In...><<<blocks_for(n), kThreads, 0, stream>>>(
          n, f, d::StridedOperand<Out>{o, StridedOffsets(sizes, m.outer_strides(0))},
          d::StridedOperand<const In>{data_of<const In>(inputs),
                                      StridedOffsets(sizes, m.outer_strides(1 + I))}...);
    }
    (std::index_sequence_for<In...>{});
  }
  MG_CUDA_LAUNCH_CHECK();
}

}  // namespace mixgrad::cuda
