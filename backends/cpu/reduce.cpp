// CPU reductions and scans.
//
// Two strategies:
//  - Row accumulation (Sum/Prod/Max/Min whose reduced dims all lie outside a kept, unit-stride
//    innermost run, e.g. the bias gradient sum(x, {0}) of [N, D]): whole input rows are
//    combined into a block of per-column accumulators with a plain vectorizable loop, instead
//    of a strided column walk per output element. Threads own disjoint column blocks; when
//    there are too few blocks to go round, they also take disjoint row ranges whose partial
//    results are combined afterwards, in row order.
//  - Slice reduction (everything else): each output element reduces its own slice, kept dims are
//    split across threads, and the innermost reduced dim is a flat loop (unit stride when the
//    input is contiguous there).
// Scans (running sum, product, max, min, logsumexp) along a non-innermost dim use the same row
// idea: running values of whole rows.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "backends/cpu/dim_rows.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/parallel.h"
#include "backends/strided_plan.h"
#include "core/dispatch.h"

namespace mixgrad::cpu {

using kernels::ReduceOp;

namespace {

// Floating sums accumulate in double and integer ones in int64, so float32 sums of many
// elements and int32 sums that overflow int32 stay accurate.
template <class T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

constexpr bool is_logical(ReduceOp op) {
  return op == ReduceOp::Any || op == ReduceOp::All;
}

// Any/All write bool results; the other reductions keep the input's dtype.
template <class T, ReduceOp Op>
using ReduceOut = std::conditional_t<is_logical(Op), bool, T>;

template <class T, ReduceOp Op>
constexpr Acc<T> identity() {
  return Op == ReduceOp::Prod ? Acc<T>(1) : Acc<T>(0);
}

template <ReduceOp Op, class A, class T>
inline void combine(A& acc, T v) {
  if constexpr (Op == ReduceOp::Sum)
    acc += v;
  else
    acc *= v;
}

// Whether v takes over from best in a running max/min: only when strictly better, so the first
// occurrence wins; a NaN takes over from any number and is never replaced.
template <ReduceOp Op, class T>
inline bool replaces(T v, T best) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(best)) return false;
    if (std::isnan(v)) return true;
  }
  return Op == ReduceOp::Max ? v > best : v < best;
}

using kernels::StridedPlan;
using kernels::StridedWalk;

// Calls f(offset, i) for `count` positions `step` apart along a one-operand walk, from its own.
template <class F>
void for_each_offset(StridedWalk<1>& walk, int64_t count, int64_t step, F&& f) {
  for (int64_t i = 0; i < count; ++i, walk.advance(step)) f(walk.offset(0), i);
}

// Sum of n contiguous values with independent partial sums: breaks the add dependency chain
// (which otherwise costs a full add latency per element) and lets the compiler vectorize.
template <class T>
Acc<T> sum_contiguous(const T* p, int64_t n) {
  constexpr int kLanes = 8;
  std::array<Acc<T>, kLanes> part{};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) part[j] += p[i + j];
  for (int j = 0; i < n; ++i, ++j) part[j] += p[i];
  // A tree keeps the final combine short for short rows.
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) part[j] += part[j + width];
  return part[0];
}

// ---- row accumulation ----

// Columns per accumulator block: 8 KiB of double accumulators stay in L1 while the rows stream
// through them, and a block is wide enough that each row read is a long sequential run.
constexpr int64_t kColumnBlock = 1024;

// The innermost `run` elements of every tensor form one unit-stride row, split into column
// blocks; `lines` are the other kept dims, with each tensor's offsets.
struct RowLayout {
  int64_t run = 0;
  StridedPlan<3> lines;
  int64_t blocks() const { return (run + kColumnBlock - 1) / kColumnBlock; }
};

// Finds the trailing dims (except the `skip`ped ones, which belong to neither run nor lines)
// that form a unit-stride run in all three tensors; false when the innermost dim is skipped or
// not unit-stride somewhere.
bool row_layout(const std::array<const Tensor*, 3>& tensors, const std::vector<bool>& skip,
                RowLayout& layout) {
  const Shape& size = tensors[0]->shape();
  const int64_t nd = static_cast<int64_t>(size.size());
  if (nd == 0 || skip[nd - 1] || size[nd - 1] < 2) return false;
  auto stride_is = [&](int64_t d, int64_t expected) {
    return std::all_of(tensors.begin(), tensors.end(),
                       [&](const Tensor* t) { return t->strides()[d] == expected; });
  };
  if (!stride_is(nd - 1, 1)) return false;
  layout.run = size[nd - 1];
  int64_t d = nd - 2;
  for (; d >= 0 && !skip[d]; --d) {
    if (size[d] != 1 && !stride_is(d, layout.run)) break;
    layout.run *= size[d];
  }
  layout.lines = StridedPlan<3>(tensors, [&](int64_t k) { return k <= d && !skip[k]; });
  return true;
}

// Sum/Prod/Max/Min through row accumulation. Sum/Prod accumulate each column in Acc<T>; Max/Min
// keep each column's best value and the row it came from. Returns false (doing nothing) when
// the layout does not fit.
template <class T, ReduceOp Op>
bool reduce_rows(const Tensor& out, const Tensor& indices, const Tensor& in,
                 const std::vector<bool>& reduced) {
  constexpr bool kExtremum = Op == ReduceOp::Max || Op == ReduceOp::Min;
  using Value = std::conditional_t<kExtremum, T, Acc<T>>;
  RowLayout layout;
  if (!row_layout({&in, &out, indices.defined() ? &indices : &out}, reduced, layout)) return false;
  const StridedPlan<1> rows({&in}, [&](int64_t d) { return reduced[d]; });

  const int64_t run = layout.run, blocks = layout.blocks(), n_rows = rows.numel();
  const int64_t column_tasks = layout.lines.numel() * blocks;
  if (column_tasks == 0) return true;
  // Row chunks only when column blocks cannot occupy every thread and each chunk has real work
  // (so every chunk holds at least one row, which Max/Min start from).
  int64_t chunks = 1;
  const int64_t threads = get_num_threads();
  if (column_tasks < threads)
    chunks = std::clamp<int64_t>(n_rows * std::min(run, kColumnBlock) / kGrainSize, 1,
                                 threads / column_tasks);
  const size_t partial_size = chunks > 1 ? chunks * column_tasks * kColumnBlock : 0;
  // Arrays rather than vectors: Value may be bool, and std::vector<bool> has no data().
  auto partial_value = std::make_unique<Value[]>(partial_size);
  auto partial_row = std::make_unique<int64_t[]>(kExtremum ? partial_size : 0);
  auto partial_at = [&](int64_t chunk, int64_t column_task) {
    return (chunk * column_tasks + column_task) * kColumnBlock;
  };

  const T* src = in.data_ptr<T>();
  T* dst = out.data_ptr<T>();
  int64_t* idx_dst = indices.defined() ? indices.data_ptr<int64_t>() : nullptr;
  // Writes a column block's final values (and rows) to the outputs.
  auto store = [&](int64_t column_task, int64_t len, const Value* value, const int64_t* row) {
    const int64_t col = (column_task % blocks) * kColumnBlock;
    const StridedWalk<3> at_line(layout.lines, column_task / blocks);
    T* target = dst + at_line.offset(1) + col;
    for (int64_t k = 0; k < len; ++k) target[k] = static_cast<T>(value[k]);
    if (kExtremum && idx_dst) std::copy_n(row, len, idx_dst + at_line.offset(2) + col);
  };

  const int64_t work = std::max<int64_t>(1, n_rows / chunks * std::min(run, kColumnBlock));
  parallel_for(column_tasks * chunks, std::max<int64_t>(1, kGrainSize / work),
               [&](int64_t begin, int64_t end) {
                 std::array<Value, kColumnBlock> value;
                 std::array<int64_t, kExtremum ? kColumnBlock : 1> row;
                 for (int64_t t = begin; t < end; ++t) {
                   const int64_t chunk = t % chunks, column_task = t / chunks;
                   const int64_t col = (column_task % blocks) * kColumnBlock;
                   const int64_t len = std::min(kColumnBlock, run - col);
                   const T* base =
                       src + StridedWalk<3>(layout.lines, column_task / blocks).offset(0) + col;
                   const int64_t first = chunk * n_rows / chunks;
                   if constexpr (!kExtremum) std::fill_n(value.begin(), len, identity<T, Op>());
                   StridedWalk<1> at_row(rows, first);
                   for_each_offset(at_row, (chunk + 1) * n_rows / chunks - first, 1,
                                   [&](int64_t off, int64_t i) {
                                     const T* p = base + off;
                                     if constexpr (kExtremum) {
                                       if (i == 0) {
                                         std::copy_n(p, len, value.begin());
                                         std::fill_n(row.begin(), len, first);
                                         return;
                                       }
                                       for (int64_t k = 0; k < len; ++k) {
                                         if (replaces<Op>(p[k], value[k])) {
                                           value[k] = p[k];
                                           row[k] = first + i;
                                         }
                                       }
                                     } else {
                                       for (int64_t k = 0; k < len; ++k)
                                         combine<Op>(value[k], p[k]);
                                     }
                                   });
                   if (chunks == 1) {
                     store(column_task, len, value.data(), row.data());
                     continue;
                   }
                   const int64_t at = partial_at(chunk, column_task);
                   std::copy_n(value.begin(), len, partial_value.get() + at);
                   if constexpr (kExtremum) std::copy_n(row.begin(), len, partial_row.get() + at);
                 }
               });
  if (chunks == 1) return true;
  // Chunks merge in row order, so Max/Min keep the first occurrence.
  for (int64_t column_task = 0; column_task < column_tasks; ++column_task) {
    const int64_t len = std::min(kColumnBlock, run - (column_task % blocks) * kColumnBlock);
    Value* value = partial_value.get() + partial_at(0, column_task);
    int64_t* row = kExtremum ? partial_row.get() + partial_at(0, column_task) : nullptr;
    for (int64_t chunk = 1; chunk < chunks; ++chunk) {
      const int64_t at = partial_at(chunk, column_task);
      for (int64_t k = 0; k < len; ++k) {
        if constexpr (kExtremum) {
          if (replaces<Op>(partial_value[at + k], value[k])) {
            value[k] = partial_value[at + k];
            row[k] = partial_row[at + k];
          }
        } else {
          combine<Op>(value[k], partial_value[at + k]);
        }
      }
    }
    store(column_task, len, value, row);
  }
  return true;
}

// ---- slice reduction ----

template <class T, ReduceOp Op>
void reduce_slices(const Tensor& out, const Tensor& indices, const Tensor& in,
                   const std::vector<bool>& reduced) {
  using Out = ReduceOut<T, Op>;
  // Kept dims walk in, out and indices (which gets out's strides when absent); reduced dims
  // walk the input slice.
  const Tensor& idx_like = indices.defined() ? indices : out;
  const StridedPlan<3> kept({&in, &out, &idx_like}, [&](int64_t d) { return !reduced[d]; });
  const StridedPlan<1> slice({&in}, [&](int64_t d) { return reduced[d]; });
  const T* src = in.data_ptr<T>();
  Out* dst = out.data_ptr<Out>();
  int64_t* idx_dst = indices.defined() ? indices.data_ptr<int64_t>() : nullptr;

  // The slice goes run by run: its innermost dim is a flat loop.
  const int64_t slice_numel = slice.numel();
  const int64_t last_size = slice.inner_size();
  const int64_t last_stride = slice.ndim() == 0 ? 1 : slice.inner_stride(0);
  const int64_t runs = slice_numel == 0 ? 0 : slice_numel / last_size;

  const int64_t grain = std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, slice_numel));
  parallel_for(kept.numel(), grain, [&](int64_t begin, int64_t end) {
    StridedWalk<3> at(kept, begin);
    StridedWalk<1> in_slice(slice);
    // Visits the current output's slice: f(offset of a flat run, run number).
    auto for_each_run = [&](auto&& f) {
      in_slice.restart();
      for_each_offset(in_slice, runs, last_size, f);
    };
    for (int64_t o = begin; o < end; ++o, at.advance(1)) {
      // An empty input may have no storage: no arithmetic on its null pointer.
      const T* base = slice_numel == 0 ? src : src + at.offset(0);
      Out* target = dst + at.offset(1);
      if constexpr (Op == ReduceOp::Sum || Op == ReduceOp::Prod) {
        Acc<T> acc = identity<T, Op>();
        for_each_run([&](int64_t off, int64_t) {
          const T* p = base + off;
          if (Op == ReduceOp::Sum && last_stride == 1) {
            acc += sum_contiguous(p, last_size);
          } else {
            for (int64_t i = 0; i < last_size; ++i) combine<Op>(acc, p[i * last_stride]);
          }
        });
        *target = static_cast<T>(acc);
      } else if constexpr (is_logical(Op)) {
        // Stops at the first element that decides the result.
        constexpr bool decisive = Op == ReduceOp::Any;
        bool acc = !decisive;
        for_each_run([&](int64_t off, int64_t) {
          const T* p = base + off;
          for (int64_t i = 0; i < last_size && acc != decisive; ++i)
            if ((p[i * last_stride] != T(0)) == decisive) acc = decisive;
        });
        *target = acc;
      } else {  // Max / Min (the op rejects empty slices): first occurrence wins; NaN wins
        T best = base[0];
        int64_t best_i = 0;
        for_each_run([&](int64_t off, int64_t r) {
          const T* p = base + off;
          for (int64_t i = 0; i < last_size; ++i) {
            const T v = p[i * last_stride];
            if (replaces<Op>(v, best)) {
              best = v;
              best_i = r * last_size + i;
            }
          }
        });
        *target = best;
        if (idx_dst) idx_dst[at.offset(2)] = best_i;
      }
    }
  });
}

// ---- scans ----

using kernels::ScanOp;

// Sum and Prod accumulate as reductions do; LogSumExp in double; Max / Min in the dtype itself.
template <class T, ScanOp Op>
using ScanAcc = std::conditional_t<Op == ScanOp::Max || Op == ScanOp::Min, T,
                                   std::conditional_t<Op == ScanOp::LogSumExp, double, Acc<T>>>;

// log(exp(a) + exp(b)) without overflow; equal infinities give themselves and a NaN propagates
// (as PyTorch's _log_add_exp_helper).
inline double log_add_exp(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return a + b;  // NaN from there on, as in PyTorch
  const double lo = std::min(a, b), hi = std::max(a, b);
  if (lo != hi || std::isfinite(lo)) return hi + std::log1p(std::exp(lo - hi));
  return a;
}

// One scan step: folds x (at position i) into acc. Max / Min take x on ties (the latest
// position) and on NaN, and keep a NaN once seen unless another NaN comes.
template <ScanOp Op, class A, class T>
inline void scan_step(A& acc, int64_t& at, T x, int64_t i) {
  if constexpr (Op == ScanOp::Sum) {
    acc += x;
  } else if constexpr (Op == ScanOp::Prod) {
    acc *= x;
  } else if constexpr (Op == ScanOp::LogSumExp) {
    acc = log_add_exp(acc, static_cast<double>(x));
  } else {
    bool take = i == 0;
    if constexpr (std::is_floating_point_v<T>)
      take =
          take || std::isnan(x) || (!std::isnan(acc) && (Op == ScanOp::Max ? x >= acc : x <= acc));
    else
      take = take || (Op == ScanOp::Max ? x >= acc : x <= acc);
    if (take) {
      acc = x;
      at = i;
    }
  }
}

template <class T, ScanOp Op>
constexpr ScanAcc<T, Op> scan_identity() {
  if constexpr (Op == ScanOp::Prod) return ScanAcc<T, Op>(1);
  if constexpr (Op == ScanOp::LogSumExp) return -std::numeric_limits<double>::infinity();
  return ScanAcc<T, Op>(0);  // Max / Min take their first element regardless
}

// Running values of whole rows when `dim` is not the innermost dim: each step folds a row into a
// block of accumulators (vectorizable) instead of walking one strided line per element. Not for
// Max / Min, which also track positions.
template <class T, ScanOp Op>
bool scan_rows(const Tensor& out, const Tensor& in, int64_t dim) {
  if (in.dim() == 0) return false;
  std::vector<bool> skip(in.dim(), false);
  skip[dim] = true;
  RowLayout layout;
  if (!row_layout({&in, &out, &out}, skip, layout)) return false;
  const int64_t n = in.shape()[dim], in_step = in.strides()[dim], out_step = out.strides()[dim];
  const int64_t run = layout.run, blocks = layout.blocks();
  const T* src = in.data_ptr<T>();
  T* dst = out.data_ptr<T>();
  const int64_t work = std::max<int64_t>(1, n * std::min(run, kColumnBlock));
  parallel_for(layout.lines.numel() * blocks, std::max<int64_t>(1, kGrainSize / work),
               [&](int64_t begin, int64_t end) {
                 std::array<ScanAcc<T, Op>, kColumnBlock> acc;
                 int64_t unused = 0;
                 for (int64_t t = begin; t < end; ++t) {
                   const int64_t col = (t % blocks) * kColumnBlock;
                   const int64_t len = std::min(kColumnBlock, run - col);
                   const StridedWalk<3> at_line(layout.lines, t / blocks);
                   const T* p = src + at_line.offset(0) + col;
                   T* q = dst + at_line.offset(1) + col;
                   std::fill_n(acc.begin(), len, scan_identity<T, Op>());
                   for (int64_t i = 0; i < n; ++i, p += in_step, q += out_step) {
                     for (int64_t k = 0; k < len; ++k) {
                       scan_step<Op>(acc[k], unused, p[k], i);
                       q[k] = static_cast<T>(acc[k]);
                     }
                   }
                 }
               });
  return true;
}

// One running value per line along `dim` (any strides, including negative ones); Max / Min also
// write the position of each running value into `indices`.
template <class T, ScanOp Op>
void scan_lines(const Tensor& out, const Tensor& indices, const Tensor& in, int64_t dim) {
  constexpr bool kIndexed = Op == ScanOp::Max || Op == ScanOp::Min;
  const Tensor& idx_like = kIndexed ? indices : out;
  const DimRows<3> lines({&in, &out, &idx_like}, dim);
  const int64_t n = lines.length(0), in_step = lines.stride(0), out_step = lines.stride(1),
                idx_step = lines.stride(2);
  const T* src = in.data_ptr<T>();
  T* dst = out.data_ptr<T>();
  int64_t* idx_dst = kIndexed ? indices.data_ptr<int64_t>() : nullptr;
  lines.parallel(n, [&](int64_t begin, int64_t end) {
    lines.for_rows(begin, end, [&](const DimRows<3>::Offsets& off) {
      const T* p = src + off[0];
      T* q = dst + off[1];
      ScanAcc<T, Op> acc = scan_identity<T, Op>();
      int64_t at = 0;
      for (int64_t i = 0; i < n; ++i) {
        scan_step<Op>(acc, at, p[i * in_step], i);
        q[i * out_step] = static_cast<T>(acc);
        if constexpr (kIndexed) idx_dst[off[2] + i * idx_step] = at;
      }
    });
  });
}

}  // namespace

// Any/All write a bool `out`; the other ops write out in the input's dtype. With several reduced
// dims, Max/Min indices are row-major positions within the reduced slice.
void reduce(ReduceOp op, const Tensor& out, const Tensor& indices, const Tensor& in,
            const Shape& dims) {
  std::vector<bool> reduced(in.dim(), false);
  for (int64_t d : dims) reduced[d] = true;
  dispatch_dtype(in.dtype(), "reduce", [&]<class T>() {
    dispatch_enum<ReduceOp, static_cast<int>(ReduceOp::Count)>(op, [&]<ReduceOp Op>() {
      if constexpr (!is_logical(Op)) {
        if (in.numel() > 0 && reduce_rows<T, Op>(out, indices, in, reduced)) return;
      }
      reduce_slices<T, Op>(out, indices, in, reduced);
    });
  });
}

// out and in share a dtype; their strides may differ, and may be negative along `dim` (which
// walks it backwards: a reverse scan).
void scan(ScanOp op, const Tensor& out, const Tensor& indices, const Tensor& in, int64_t dim) {
  dispatch_dtype(in.dtype(), "scan", [&]<class T>() {
    dispatch_enum<ScanOp, static_cast<int>(ScanOp::Count)>(op, [&]<ScanOp Op>() {
      if constexpr (Op == ScanOp::LogSumExp && !std::is_floating_point_v<T>) {
        MG_CHECK(false, "scan", "logsumexp needs a floating dtype, got ", describe(in));
      } else {
        if constexpr (Op != ScanOp::Max && Op != ScanOp::Min) {
          if (scan_rows<T, Op>(out, in, dim)) return;
        }
        scan_lines<T, Op>(out, indices, in, dim);
      }
    });
  });
}

}  // namespace mixgrad::cpu
