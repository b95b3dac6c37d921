// CUDA reductions (contract in backends/kernels.h, reference backends/cpu/reduce.cpp).
//
// Each output element is one slot of a group (see group_reduce.cuh): its lanes walk the reduced
// positions r = lane, lane + lanes, ... and their partial states meet in a fixed-shape tree.
// Unit-stride slices use lanes that are neighbours in a warp (a warp, a part of one, or the
// whole block for long slices); slices whose neighbours are other outputs (sum over dim 0 of
// [N, D]) put 32 neighbouring outputs in a warp instead, so every load is coalesced. Few long
// slices also split across gridDim.y, with a second kernel combining the parts in order.
//
// Max/Min carry (value, position) pairs whose combine is associative and commutative — NaN
// beats numbers, then the better value, then the lower position — so any tree gives the first
// occurrence, as the CPU's sequential scan does.
#include <cstdint>
#include <type_traits>
#include <vector>

#include "backends/cuda/common.cuh"
#include "backends/cuda/group_reduce.cuh"
#include "backends/cuda/kernels.h"
#include "backends/strided_plan.h"

namespace mixgrad::cuda {

using kernels::ReduceOp;

namespace {

// float for float16/bfloat16, double for float32/float64 (as the CPU does: a float32 product
// may leave float's range midway and come back), int64 for integers and bool.
template <class T>
using ReduceAcc = std::conditional_t<std::is_integral_v<T>, int64_t,
                                     std::conditional_t<sizeof(T) == 2, float, double>>;

constexpr bool is_logical(ReduceOp op) {
  return op == ReduceOp::Any || op == ReduceOp::All;
}
constexpr bool is_extremum(ReduceOp op) {
  return op == ReduceOp::Max || op == ReduceOp::Min;
}

template <class T, ReduceOp Op>
using ReduceOut = std::conditional_t<is_logical(Op), bool, T>;

// Integer sums and products wrap (through uint64) instead of overflowing a signed type.
template <class A>
__device__ A wrap_add(A a, A b) {
  if constexpr (std::is_integral_v<A>)
    return static_cast<A>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  else
    return a + b;
}
template <class A>
__device__ A wrap_mul(A a, A b) {
  if constexpr (std::is_integral_v<A>)
    return static_cast<A>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  else
    return a * b;
}

// A reduced element's position and value; position < 0 means no element seen yet.
template <class A>
struct Best {
  A value;
  int64_t position;
};

// The partial state of one reduction, how an element enters it, how two combine (the left one
// covering lower positions where order matters), and how the final state is written.
template <class T, ReduceOp Op>
struct Reducer {
  using Acc = ReduceAcc<T>;
  using State =
      std::conditional_t<is_extremum(Op), Best<Acc>, std::conditional_t<is_logical(Op), int, Acc>>;
  using Out = ReduceOut<T, Op>;

  static __device__ State identity() {
    if constexpr (is_extremum(Op))
      return {Acc(0), -1};
    else if constexpr (Op == ReduceOp::Prod || Op == ReduceOp::All)
      return State(1);
    else
      return State(0);
  }
  static __device__ State take(T v, int64_t position) {
    if constexpr (is_extremum(Op))
      return {convert<Acc>(v), position};
    else if constexpr (is_logical(Op))
      return convert<bool>(v) ? 1 : 0;
    else
      return convert<Acc>(v);
  }
  __device__ State operator()(const State& a, const State& b) const {
    if constexpr (Op == ReduceOp::Sum) {
      return wrap_add(a, b);
    } else if constexpr (Op == ReduceOp::Prod) {
      return wrap_mul(a, b);
    } else if constexpr (Op == ReduceOp::Any) {
      return a | b;
    } else if constexpr (Op == ReduceOp::All) {
      return a & b;
    } else {
      if (b.position < 0) return a;
      if (a.position < 0) return b;
      const bool first = a.position <= b.position;
      if constexpr (!std::is_integral_v<Acc>) {
        const bool a_nan = a.value != a.value, b_nan = b.value != b.value;
        if (a_nan && b_nan) return first ? a : b;
        if (a_nan) return a;
        if (b_nan) return b;
      }
      if (a.value == b.value) return first ? a : b;
      const bool a_better = Op == ReduceOp::Max ? a.value > b.value : a.value < b.value;
      return a_better ? a : b;
    }
  }
  static __device__ void store(const State& s, Out* out, int64_t* index) {
    if constexpr (is_extremum(Op)) {
      *out = convert<T>(s.value);
      if (index) *index = s.position;
    } else if constexpr (is_logical(Op)) {
      *out = s != 0;
    } else {
      *out = convert<T>(s);
    }
  }
};

// Where output o and reduced position r live. The kept dims share sizes, so one linear output
// position maps through each tensor's strides.
struct ReducePlan {
  StridedOffsets kept_in, kept_out, kept_index;
  StridedOffsets slice;  // reduced dims, input strides, row-major positions
  int64_t outputs = 0;
  int64_t extent = 0;
  int64_t chunk = 0;  // positions per gridDim.y part
};

__device__ inline int64_t slice_offset(const StridedOffsets& slice, int64_t r) {
  // One reduced dim (the common case after merging) needs no division.
  return slice.ndim == 1 ? r * slice.strides[0] : slice(r);
}

// kPartial: writes each (output, part) state to partials[o * gridDim.y + part] for
// reduce_finish_kernel; otherwise stores the result.
template <class T, ReduceOp Op, bool kPartial>
__global__ void reduce_kernel(ReducePlan p, GroupLayout g, const T* in,
                              typename Reducer<T, Op>::Out* out, int64_t* index,
                              typename Reducer<T, Op>::State* partials) {
  using R = Reducer<T, Op>;
  __shared__ typename R::State scratch[kGroupScratch];
  const int64_t part = blockIdx.y;
  const int64_t begin = part * p.chunk;
  const int64_t end = begin + p.chunk < p.extent ? begin + p.chunk : p.extent;
  const int64_t slots = g.slots();
  // The loop bound is the same for the whole block, which group_reduce's barriers need.
  for (int64_t first = blockIdx.x * slots; first < p.outputs; first += gridDim.x * slots) {
    const int64_t o = first + g.slot();
    typename R::State acc = R::identity();
    if (o < p.outputs) {
      const T* base = in + p.kept_in(o);
      for (int64_t r = begin + g.lane(); r < end; r += g.lanes)
        acc = R{}(acc, R::take(base[slice_offset(p.slice, r)], r));
    }
    acc = group_reduce(acc, g, scratch, R{});
    if (o < p.outputs && g.lane() == 0) {
      if constexpr (kPartial)
        partials[o * gridDim.y + part] = acc;
      else
        R::store(acc, out + p.kept_out(o), index ? index + p.kept_index(o) : nullptr);
    }
  }
}

template <class T, ReduceOp Op>
__global__ void reduce_finish_kernel(ReducePlan p, int64_t parts,
                                     const typename Reducer<T, Op>::State* partials,
                                     typename Reducer<T, Op>::Out* out, int64_t* index) {
  using R = Reducer<T, Op>;
  MG_CUDA_KERNEL_LOOP(o, p.outputs) {
    typename R::State acc = partials[o * parts];
    for (int64_t k = 1; k < parts; ++k) acc = R{}(acc, partials[o * parts + k]);
    R::store(acc, out + p.kept_out(o), index ? index + p.kept_index(o) : nullptr);
  }
}

template <class T, ReduceOp Op>
void reduce_typed(const Tensor& out, const Tensor& indices, const Tensor& in,
                  const std::vector<bool>& reduced) {
  using R = Reducer<T, Op>;
  const Tensor& index_layout = indices.defined() ? indices : out;
  const kernels::StridedPlan<3> kept({&in, &out, &index_layout},
                                     [&](int64_t d) { return !reduced[d]; });
  const kernels::StridedPlan<1> slice({&in}, [&](int64_t d) { return reduced[d]; });
  ReducePlan p;
  p.kept_in = StridedOffsets(kept.outer_sizes(), kept.outer_strides(0));
  p.kept_out = StridedOffsets(kept.outer_sizes(), kept.outer_strides(1));
  p.kept_index = StridedOffsets(kept.outer_sizes(), kept.outer_strides(2));
  p.slice = StridedOffsets(slice.outer_sizes(), slice.outer_strides(0));
  p.outputs = kept.numel();
  p.extent = slice.numel();
  if (p.outputs == 0) return;

  // Neighbouring outputs read neighbouring elements when the kept dims are innermost in memory.
  const bool across = kept.inner_stride(0) == 1 && kept.inner_size() >= 16 &&
                      slice.inner_stride(0) != 1 && p.extent > 1;
  const GroupLayout g = choose_layout(p.extent, across);
  const int64_t blocks =
      std::min<int64_t>((p.outputs + g.slots() - 1) / g.slots(), kMaxGroupBlocks);
  const Splits splits = plan_splits(blocks, p.extent, g.lanes, in.device().index);
  p.chunk = splits.chunk;
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(splits.count));
  cudaStream_t stream = stream_of(in);
  const T* src = data_of<const T>(in);
  auto* dst = data_of<typename R::Out>(out);
  int64_t* index = indices.defined() ? data_of<int64_t>(indices) : nullptr;
  if (splits.count == 1) {
    reduce_kernel<T, Op, false><<<grid, kThreads, 0, stream>>>(p, g, src, dst, index, nullptr);
    MG_CUDA_LAUNCH_CHECK();
    return;
  }
  using State = typename R::State;
  const Tensor scratch =
      workspace(static_cast<std::size_t>(p.outputs * splits.count) * sizeof(State), in);
  auto* partials = data_of<State>(scratch);
  reduce_kernel<T, Op, true><<<grid, kThreads, 0, stream>>>(p, g, src, dst, index, partials);
  MG_CUDA_LAUNCH_CHECK();
  reduce_finish_kernel<T, Op>
      <<<blocks_for(p.outputs), kThreads, 0, stream>>>(p, splits.count, partials, dst, index);
  MG_CUDA_LAUNCH_CHECK();
}

}  // namespace

void reduce(ReduceOp op, const Tensor& out, const Tensor& indices, const Tensor& in,
            const Shape& dims) {
  TensorDeviceGuard guard(in);
  std::vector<bool> reduced(in.dim(), false);
  for (int64_t d : dims) reduced[d] = true;
  dispatch_cuda_dtype(in.dtype(), "reduce", [&]<class T>() {
    dispatch_enum<ReduceOp, static_cast<int>(ReduceOp::Count)>(
        op, [&]<ReduceOp Op>() { reduce_typed<T, Op>(out, indices, in, reduced); });
  });
}

}  // namespace mixgrad::cuda
