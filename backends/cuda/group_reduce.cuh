#pragma once
// Cooperative reductions where a block's threads form groups ("slots"), each combining the
// partial states of its lanes: reduce, softmax and the normalisation sums all need one, with
// the lanes of a slot either neighbours in a warp (unit-stride data: lanes read neighbouring
// elements) or one warp apart (neighbouring slots read neighbouring elements, e.g. columns).
// The combine runs in a fixed tree shape, so results do not depend on timing.
#include <algorithm>
#include <cstring>

#include "backends/cuda/common.cuh"

namespace mixgrad::cuda {

// A block of kThreads threads seen as slots() groups of `lanes` threads. lanes_fastest: thread t
// is lane t % lanes of slot t / lanes, and lanes is a power of two up to 32 or a multiple of 32.
// Otherwise slots are fastest: thread t is slot t % 32, lane t / 32 (lanes = kThreads / 32).
struct GroupLayout {
  int lanes = 32;
  bool lanes_fastest = true;

  __host__ __device__ int slots() const { return kThreads / lanes; }
  __device__ int slot() const {
    return lanes_fastest ? static_cast<int>(threadIdx.x) / lanes : threadIdx.x % 32;
  }
  __device__ int lane() const {
    return lanes_fastest ? static_cast<int>(threadIdx.x) % lanes : threadIdx.x / 32;
  }
};

inline GroupLayout warp_lanes(int lanes) {
  return {lanes, true};
}
inline GroupLayout slots_in_warp() {
  return {kThreads / 32, false};
}

// Slices of more positions than this get the whole block as lanes.
inline constexpr int64_t kLongExtent = 4096;

// The layout for slots of `extent` positions each. `across`: neighbouring slots' data are
// neighbours in memory (and a slot's own are not), so a warp spans 32 slots. Otherwise a slot's
// lanes are neighbours: the fewest (a power of two up to a warp) that cover a short extent, a
// warp, or the whole block for long extents.
inline GroupLayout choose_layout(int64_t extent, bool across) {
  if (across) return slots_in_warp();
  if (extent > kLongExtent) return warp_lanes(kThreads);
  int lanes = 1;
  while (lanes < 32 && lanes < extent) lanes *= 2;
  return warp_lanes(lanes);
}

// __shfl_down_sync of any trivially copyable state, word by word.
template <class S>
__device__ S shfl_down(const S& v, int delta, int width) {
  static_assert(sizeof(S) % sizeof(int) == 0, "shuffled states are made of 32-bit words");
  constexpr int kWords = sizeof(S) / sizeof(int);
  int w[kWords];
  memcpy(w, &v, sizeof(S));
#pragma unroll
  for (int i = 0; i < kWords; ++i) w[i] = __shfl_down_sync(0xffffffffu, w[i], delta, width);
  S r;
  memcpy(&r, w, sizeof(S));
  return r;
}

// States of __shared__ scratch group_reduce needs: one per thread and one per slot. S must be
// trivially default-constructible to live in __shared__ memory.
inline constexpr int kGroupScratch = 2 * kThreads;

// Combines the states of each slot's lanes in lane order (combine(lower lanes, higher lanes))
// and returns the slot's total to every thread of the slot. Every thread of the block must call
// it, the same number of times (it synchronises the block).
template <class S, class Combine>
__device__ S group_reduce(S v, const GroupLayout& g, S* shared, Combine combine) {
  const int tid = threadIdx.x;
  S* partial = shared;           // one per thread
  S* total = shared + kThreads;  // one per slot
  if (g.lanes_fastest) {
    const int width = g.lanes < 32 ? g.lanes : 32;
    for (int delta = width / 2; delta > 0; delta /= 2) v = combine(v, shfl_down(v, delta, width));
    if (g.lanes <= 32) {
      if (g.lane() == 0) total[g.slot()] = v;
    } else {
      if (tid % 32 == 0) partial[tid / 32] = v;
      __syncthreads();
      if (g.lane() == 0) {
        const int first = tid / 32, warps = g.lanes / 32;
        S acc = partial[first];
        for (int w = 1; w < warps; ++w) acc = combine(acc, partial[first + w]);
        total[g.slot()] = acc;
      }
    }
  } else {
    partial[tid] = v;
    __syncthreads();
    if (g.lane() == 0) {
      S acc = partial[g.slot()];
      for (int l = 1; l < g.lanes; ++l) acc = combine(acc, partial[l * 32 + g.slot()]);
      total[g.slot()] = acc;
    }
  }
  __syncthreads();
  const S result = total[g.slot()];
  // The caller may reuse `shared` (or call again) right after.
  __syncthreads();
  return result;
}

// Blocks in a launch of group kernels: grid-stride loops take the rest.
inline constexpr int64_t kMaxGroupBlocks = 65535 * 8;

// How a slot's `extent` positions split across gridDim.y: `count` parts of `chunk` positions
// (the last may be shorter). More than one part only when the launch's `blocks` cannot fill the
// device and every lane still gets a fair amount of work; the parts' partial states are then
// combined by a second kernel.
struct Splits {
  int64_t count = 1;
  int64_t chunk = 0;
};
inline Splits plan_splits(int64_t blocks, int64_t extent, int lanes, int device) {
  int sms = 0;
  MG_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  const int64_t target = static_cast<int64_t>(sms) * (2048 / kThreads);
  constexpr int64_t kMinPerLane = 32;
  auto ceil_div = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  int64_t count = 1;
  if (blocks < target)
    count =
        std::min<int64_t>({ceil_div(target, blocks), ceil_div(extent, lanes * kMinPerLane), 65535});
  count = std::max<int64_t>(count, 1);
  const int64_t chunk = std::max<int64_t>(ceil_div(extent, count), 1);
  return {std::max<int64_t>(ceil_div(extent, chunk), 1), chunk};
}

}  // namespace mixgrad::cuda
