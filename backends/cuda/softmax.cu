// CUDA softmax / log_softmax and their backward (contract in backends/kernels.h, reference
// backends/cpu/softmax.cpp). Each row along `dim` is one slot of a group (group_reduce.cuh):
// its lanes read the row once to build a statistic, the group combines it, and the lanes then
// write the row. Rows with unit-stride elements get lanes that are neighbours in a warp (part
// of a warp for short rows, the whole block for long ones); rows along a non-last dim, whose
// neighbours are the next rows, put 32 rows in a warp, so no transposed copy is needed.
//
// The forward statistic is an online (max, sum of exp(x - max)) pair, rescaled as the max
// grows. Special values follow the CPU's two-pass arithmetic: a NaN or a +inf anywhere makes
// the row NaN, -inf elements contribute 0, and an all -inf row is NaN.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "backends/cuda/common.cuh"
#include "backends/cuda/group_reduce.cuh"
#include "backends/cuda/kernels.h"

namespace mixgrad::cuda {

namespace {

template <class A>
__device__ A exp_of(A v) {
  if constexpr (std::is_same_v<A, double>)
    return ::exp(v);
  else
    return ::expf(v);
}
template <class A>
__device__ A log_of(A v) {
  if constexpr (std::is_same_v<A, double>)
    return ::log(v);
  else
    return ::logf(v);
}

// Rows of n elements: operand k's row r starts at rows[k](r), its elements step[k] apart.
template <int K>
struct RowPlan {
  StridedOffsets rows[K];
  int64_t step[K];
  int64_t rows_count = 0;
  int64_t n = 0;
};

// Running max m of a row and s = sum of exp(x - m) over the elements seen.
template <class A>
struct Online {
  A m;
  A s;
};

template <class A>
struct OnlineCombine {
  // A side whose max is -inf holds 0 (only -inf elements) or NaN, and must not be rescaled:
  // exp(-inf - -inf) would turn its 0 into NaN.
  static __device__ A rescaled(const Online<A>& v, A m) {
    return v.m == -INFINITY ? v.s : v.s * exp_of(v.m - m);
  }
  __device__ Online<A> operator()(const Online<A>& a, const Online<A>& b) const {
    const A m = a.m > b.m ? a.m : b.m;
    return {m, rescaled(a, m) + rescaled(b, m)};
  }
};

template <class A>
struct Add {
  __device__ A operator()(A a, A b) const { return a + b; }
};

// Operands: 0 = out, 1 = in.
template <class T, bool Log>
struct SoftmaxForward {
  using A = acc_t<T>;
  using State = Online<A>;
  using Combine = OnlineCombine<A>;
  T* out;
  const T* in;

  __device__ State identity() const { return {-INFINITY, A(0)}; }
  __device__ void add(State& st, const int64_t* base, const int64_t* step, int64_t i) const {
    const A x = convert<A>(in[base[1] + i * step[1]]);
    if (x > st.m) {
      // exp(x - x), not 1: a +inf element gives NaN, as on the CPU.
      st.s = st.s * exp_of(st.m - x) + exp_of(x - x);
      st.m = x;
    } else if (x != -INFINITY) {
      st.s += exp_of(x - st.m);  // a NaN x lands here and poisons the sum
    }
  }
  __device__ void write(const State& st, const int64_t* base, const int64_t* step,
                        int64_t i) const {
    const A x = convert<A>(in[base[1] + i * step[1]]);
    A y;
    if constexpr (Log)
      y = (x - st.m) - log_of(st.s);
    else
      y = exp_of(x - st.m) * (A(1) / st.s);
    out[base[0] + i * step[0]] = convert<T>(y);
  }
};

// Operands: 0 = grad_in, 1 = grad_out, 2 = forward output. softmax: gin = y * (g - <g, y>);
// log_softmax: gin = g - exp(y) * sum(g).
template <class T, bool Log>
struct SoftmaxBackward {
  using A = acc_t<T>;
  using State = A;
  using Combine = Add<A>;
  T* grad_in;
  const T* grad_out;
  const T* out;

  __device__ State identity() const { return A(0); }
  __device__ void add(State& st, const int64_t* base, const int64_t* step, int64_t i) const {
    const A g = convert<A>(grad_out[base[1] + i * step[1]]);
    if constexpr (Log)
      st += g;
    else
      st += g * convert<A>(out[base[2] + i * step[2]]);
  }
  __device__ void write(const State& st, const int64_t* base, const int64_t* step,
                        int64_t i) const {
    const A g = convert<A>(grad_out[base[1] + i * step[1]]);
    const A y = convert<A>(out[base[2] + i * step[2]]);
    A r;
    if constexpr (Log)
      r = g - exp_of(y) * st;
    else
      r = y * (g - st);
    grad_in[base[0] + i * step[0]] = convert<T>(r);
  }
};

// Every element is read by the same thread in both passes and written only in the second, after
// the group's barrier, so an output may alias an input.
template <class Op, int K>
__global__ void row_kernel(RowPlan<K> p, GroupLayout g, Op op) {
  using State = typename Op::State;
  __shared__ State scratch[kGroupScratch];
  const int64_t slots = g.slots();
  // Block-uniform loop bounds, as group_reduce's barriers need.
  for (int64_t first = blockIdx.x * slots; first < p.rows_count; first += gridDim.x * slots) {
    const int64_t row = first + g.slot();
    const bool live = row < p.rows_count;
    int64_t base[K];
#pragma unroll
    for (int k = 0; k < K; ++k) base[k] = live ? p.rows[k](row) : 0;
    State st = op.identity();
    if (live)
      for (int64_t i = g.lane(); i < p.n; i += g.lanes) op.add(st, base, p.step, i);
    st = group_reduce(st, g, scratch, typename Op::Combine{});
    if (live)
      for (int64_t i = g.lane(); i < p.n; i += g.lanes) op.write(st, base, p.step, i);
  }
}

// Rows along `dim` of K same-shaped operands (a 0-dim operand is one row of one element).
// rows_adjacent: whether neighbouring rows are neighbours in memory in operand 1 (an input).
template <int K>
RowPlan<K> plan_rows(const Tensor* const (&operands)[K], int64_t dim, bool& rows_adjacent) {
  RowPlan<K> p;
  const Tensor& first = *operands[0];
  Shape sizes;
  Shape strides[K];
  for (int64_t d = 0; d < first.dim(); ++d) {
    if (d == dim) continue;
    sizes.push_back(first.shape()[d]);
    for (int k = 0; k < K; ++k) strides[k].push_back(operands[k]->strides()[d]);
  }
  for (int k = 0; k < K; ++k) {
    p.rows[k] = StridedOffsets(sizes, strides[k]);
    p.step[k] = first.dim() == 0 ? 1 : operands[k]->strides()[dim];
  }
  p.rows_count = numel_of(sizes);
  p.n = first.dim() == 0 ? 1 : first.shape()[dim];
  // The innermost other dim that moves decides whether rows are memory neighbours.
  rows_adjacent = false;
  for (int64_t j = static_cast<int64_t>(sizes.size()) - 1; j >= 0; --j) {
    if (sizes[j] == 1) continue;
    rows_adjacent = strides[1][j] == 1;
    break;
  }
  return p;
}

template <class Op, int K>
void launch_rows(const Tensor* const (&operands)[K], int64_t dim, const Op& op) {
  bool rows_adjacent = false;
  const RowPlan<K> p = plan_rows(operands, dim, rows_adjacent);
  if (p.rows_count == 0 || p.n == 0) return;
  const GroupLayout g = choose_layout(p.n, rows_adjacent && p.step[1] != 1);
  const int64_t blocks =
      std::min<int64_t>((p.rows_count + g.slots() - 1) / g.slots(), kMaxGroupBlocks);
  row_kernel<Op, K>
      <<<static_cast<unsigned>(blocks), kThreads, 0, stream_of(*operands[0])>>>(p, g, op);
  MG_CUDA_LAUNCH_CHECK();
}

}  // namespace

void softmax(const Tensor& out, const Tensor& in, int64_t dim, bool log) {
  TensorDeviceGuard guard(in);
  dispatch_cuda_floating(in.dtype(), "softmax", [&]<class T>() {
    dispatch_enum<bool, 2>(log, [&]<bool Log>() {
      launch_rows<SoftmaxForward<T, Log>, 2>(
          {&out, &in}, dim, SoftmaxForward<T, Log>{data_of<T>(out), data_of<const T>(in)});
    });
  });
}

void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, int64_t dim,
                      bool log) {
  TensorDeviceGuard guard(out);
  dispatch_cuda_floating(out.dtype(), "softmax_backward", [&]<class T>() {
    dispatch_enum<bool, 2>(log, [&]<bool Log>() {
      launch_rows<SoftmaxBackward<T, Log>, 3>(
          {&grad_in, &grad_out, &out}, dim,
          SoftmaxBackward<T, Log>{data_of<T>(grad_in), data_of<const T>(grad_out),
                                  data_of<const T>(out)});
    });
  });
}

}  // namespace mixgrad::cuda
