// CPU index kernels: gather/scatter element-wise along a dim, index_select/index_scatter of whole
// slices, bincount and nonzero.
//
// Every index is range-checked in a separate (vectorised) pass before anything is read or
// written: a bad index then leaves the destination untouched, and no exception ever has to
// leave a parallel region.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <type_traits>

#include "backends/cpu/kernels.h"
#include "backends/cpu/loop.h"
#include "core/dispatch.h"
#include "core/factory.h"

namespace mixgrad::cpu {

using kernels::ScatterMode;

namespace {

template <class T>
T& element(char* base, int64_t byte_offset) {
  return *reinterpret_cast<T*>(base + byte_offset);
}

// Throws unless every element of `index` lies in [0, size); `dim` only names the dim in the
// message.
void check_indices(const char* op, const Tensor& index, int64_t dim, int64_t size) {
  dispatch_index(index.dtype(), op, [&]<class I>() {
    // One unsigned compare catches negatives too; the culprit is searched for only on failure.
    const auto limit = static_cast<uint64_t>(size);
    std::atomic<bool> bad{false};
    StridedLoop<1> loop({&index});
    loop.run([&](char* const* p, const int64_t* s, int64_t n) {
      bool any = false;
      if (s[0] == sizeof(I)) {
        const I* v = reinterpret_cast<const I*>(p[0]);
        for (int64_t i = 0; i < n; ++i) any |= static_cast<uint64_t>(int64_t{v[i]}) >= limit;
      } else {
        for (int64_t i = 0; i < n; ++i)
          any |= static_cast<uint64_t>(int64_t{element<I>(p[0], i * s[0])}) >= limit;
      }
      if (any) bad.store(true, std::memory_order_relaxed);
    });
    if (!bad.load()) return;
    loop.run_serial([&](char* const* p, const int64_t* s, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        const int64_t v = element<I>(p[0], i * s[0]);
        if (v < 0 || v >= size) detail::throw_index_out_of_bounds(op, v, dim, size);
      }
    });
  });
}

Shape erase_dim(Shape s, int64_t dim) {
  s.erase(s.begin() + dim);
  return s;
}

// dst (op)= alpha * src; bool has no arithmetic, so Add is a logical or there.
template <ScatterMode Mode, class T>
inline void combine(T& dst, T src, T alpha) {
  if constexpr (std::is_same_v<T, bool>) {
    dst = Mode == ScatterMode::Add ? (dst || src) : src;
  } else if constexpr (Mode == ScatterMode::Add) {
    dst += alpha * src;
  } else {
    dst = alpha * src;
  }
}

// Visits every position p of `index` (shape S): f(indexed[p with p[dim] = index[p]], direct[p]).
// `indexed` and `direct` are read through index's shape with their own strides. Only for ops
// that write `direct` (gather-like): positions are split across threads freely.
template <class T, class I, class F>
void walk_gather(const Tensor& indexed, const Tensor& index, const Tensor& direct, int64_t dim,
                 F f) {
  Shape indexed_strides = indexed.strides();
  indexed_strides[dim] = 0;  // its position along dim comes from the index value instead
  const Tensor src = raw_view(indexed, index.shape(), indexed_strides);
  const Tensor dst = raw_view(direct, index.shape(), direct.strides());
  const int64_t step = indexed.stride(dim) * static_cast<int64_t>(sizeof(T));
  StridedLoop<3> loop({&index, &src, &dst});
  loop.run([&](char* const* p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t v = element<I>(p[0], i * s[0]);
      f(element<T>(p[1], i * s[1] + v * step), element<T>(p[2], i * s[2]));
    }
  });
}

// Like walk_gather, for ops that write `indexed` (scatter-like): repeated indices along `dim`
// hit the same element, so threads split only the other dims and each walks `dim` in order
// (the last write wins for Copy, deterministically).
template <class T, class I, class F>
void walk_scatter(const Tensor& indexed, const Tensor& index, const Tensor& direct, int64_t dim,
                  F f) {
  const Shape outer = erase_dim(index.shape(), dim);
  const Tensor ix = raw_view(index, outer, erase_dim(index.strides(), dim));
  const Tensor dst = raw_view(indexed, outer, erase_dim(indexed.strides(), dim));
  const Tensor src = raw_view(direct, outer, erase_dim(direct.strides(), dim));
  const int64_t len = index.size(dim);
  const int64_t ix_step = index.stride(dim) * static_cast<int64_t>(sizeof(I));
  const int64_t dst_step = indexed.stride(dim) * static_cast<int64_t>(sizeof(T));
  const int64_t src_step = direct.stride(dim) * static_cast<int64_t>(sizeof(T));
  StridedLoop<3> loop({&ix, &dst, &src});
  loop.run(
      [&](char* const* p, const int64_t* s, int64_t n) {
        auto visit = [&](int64_t i, int64_t k) {
          const int64_t v = element<I>(p[0], i * s[0] + k * ix_step);
          f(element<T>(p[1], i * s[1] + v * dst_step), element<T>(p[2], i * s[2] + k * src_step));
        };
        // Walk whichever of (run, dim) is closer together in memory innermost.
        if (std::abs(ix_step) <= std::abs(s[0])) {
          for (int64_t i = 0; i < n; ++i)
            for (int64_t k = 0; k < len; ++k) visit(i, k);
        } else {
          for (int64_t k = 0; k < len; ++k)
            for (int64_t i = 0; i < n; ++i) visit(i, k);
        }
      },
      std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, len)));
}

// The 1-D index of index_select/index_scatter seen as an index of `like`'s shape: it varies
// along `dim` only.
Tensor index_along(const Tensor& index, const Tensor& like, int64_t dim) {
  Shape strides(like.dim(), 0);
  strides[dim] = index.dim() == 0 ? 0 : index.stride(0);
  return raw_view(index, like.shape(), strides);
}

// t viewed as [outer][dim][row] where each row (the dims after `dim`) is one dense block.
struct RowView {
  Shape outer_sizes, outer_strides;
  int64_t row = 1;         // elements per row
  int64_t dim_stride = 0;  // elements between consecutive rows along dim
};

// Below this many elements per row a per-row memcpy loses to the element-wise walk.
constexpr int64_t kMinRowLength = 8;

std::optional<RowView> dense_rows(const Tensor& t, int64_t dim) {
  RowView r;
  const Shape inner_sizes(t.shape().begin() + dim + 1, t.shape().end());
  const Shape inner_strides(t.strides().begin() + dim + 1, t.strides().end());
  if (!is_contiguous_layout(inner_sizes, inner_strides)) return std::nullopt;
  r.row = numel_of(inner_sizes);
  if (r.row < kMinRowLength) return std::nullopt;
  r.outer_sizes.assign(t.shape().begin(), t.shape().begin() + dim);
  r.outer_strides.assign(t.strides().begin(), t.strides().begin() + dim);
  r.dim_stride = t.stride(dim);
  return r;
}

int64_t offset_of(int64_t linear, const Shape& sizes, const Shape& strides) {
  int64_t off = 0;
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    off += (linear % sizes[d]) * strides[d];
    linear /= sizes[d];
  }
  return off;
}

// The elements of a 0-D or 1-D index tensor, read through its stride.
template <class I>
class IndexVector {
 public:
  explicit IndexVector(const Tensor& index)
      : data_(index.data_ptr<I>()), stride_(index.dim() == 0 ? 0 : index.stride(0)) {}
  int64_t operator[](int64_t j) const { return data_[j * stride_]; }

 private:
  const I* data_;
  int64_t stride_;
};

}  // namespace

void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  check_indices("gather", index, dim, in.size(dim));
  dispatch_dtype(in.dtype(), "gather", [&]<class T>() {
    dispatch_index(index.dtype(), "gather", [&]<class I>() {
      walk_gather<T, I>(in, index, out, dim, [](const T& from, T& to) { to = from; });
    });
  });
}

void scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
             ScatterMode mode) {
  check_indices("scatter", index, dim, self.size(dim));
  dispatch_enum<ScatterMode, 2>(mode, [&]<ScatterMode Mode>() {
    dispatch_dtype(self.dtype(), "scatter", [&]<class T>() {
      dispatch_index(index.dtype(), "scatter", [&]<class I>() {
        walk_scatter<T, I>(self, index, src, dim,
                           [](T& to, const T& from) { combine<Mode>(to, from, T(1)); });
      });
    });
  });
}

void index_select(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  check_indices("index_select", index, dim, in.size(dim));
  dispatch_dtype(in.dtype(), "index_select", [&]<class T>() {
    dispatch_index(index.dtype(), "index_select", [&]<class I>() {
      const auto in_rows = dense_rows(in, dim), out_rows = dense_rows(out, dim);
      if (!in_rows || !out_rows) {
        walk_gather<T, I>(in, index_along(index, out, dim), out, dim,
                          [](const T& from, T& to) { to = from; });
        return;
      }
      // Embedding lookup / MoE dispatch: whole rows, copied in parallel.
      const IndexVector<I> idx(index);
      const int64_t n = index.numel(), row = in_rows->row;
      const int64_t rows = numel_of(in_rows->outer_sizes) * n;
      const T* src = in.data_ptr<T>();
      T* dst = out.data_ptr<T>();
      parallel_for(rows, std::max<int64_t>(1, kGrainSize / row), [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          const int64_t o = r / n, j = r % n;
          const T* from = src + offset_of(o, in_rows->outer_sizes, in_rows->outer_strides) +
                          idx[j] * in_rows->dim_stride;
          T* to = dst + offset_of(o, out_rows->outer_sizes, out_rows->outer_strides) +
                  j * out_rows->dim_stride;
          std::memcpy(static_cast<void*>(to), from, static_cast<size_t>(row) * sizeof(T));
        }
      });
    });
  });
}

void index_scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                   ScatterMode mode, double alpha) {
  check_indices("index_scatter", index, dim, self.size(dim));
  dispatch_enum<ScatterMode, 2>(mode, [&]<ScatterMode Mode>() {
    dispatch_dtype(self.dtype(), "index_scatter", [&]<class T>() {
      dispatch_index(index.dtype(), "index_scatter", [&]<class I>() {
        const T a = static_cast<T>(alpha);
        const auto self_rows = dense_rows(self, dim), src_rows = dense_rows(src, dim);
        if (!self_rows || !src_rows) {
          walk_scatter<T, I>(self, index_along(index, src, dim), src, dim,
                             [a](T& to, const T& from) { combine<Mode>(to, from, a); });
          return;
        }
        // Embedding backward / MoE combine: threads own disjoint column ranges of the rows and
        // each walks all indices in order, so repeated indices need no atomics.
        const IndexVector<I> idx(index);
        const int64_t n = index.numel(), row = self_rows->row;
        const int64_t columns = numel_of(self_rows->outer_sizes) * row;
        const T* from_base = src.data_ptr<T>();
        T* to_base = self.data_ptr<T>();
        parallel_for(
            columns, std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, n)),
            [&](int64_t b, int64_t e) {
              while (b < e) {
                const int64_t o = b / row, c0 = b % row;
                const int64_t len = std::min(row - c0, e - b);
                T* to_row =
                    to_base + c0 + offset_of(o, self_rows->outer_sizes, self_rows->outer_strides);
                const T* from_row =
                    from_base + c0 + offset_of(o, src_rows->outer_sizes, src_rows->outer_strides);
                for (int64_t j = 0; j < n; ++j) {
                  T* to = to_row + idx[j] * self_rows->dim_stride;
                  const T* from = from_row + j * src_rows->dim_stride;
                  for (int64_t c = 0; c < len; ++c) combine<Mode>(to[c], from[c], a);
                }
                b += len;
              }
            });
      });
    });
  });
}

void bincount(const Tensor& out, const Tensor& in, const Tensor& weights) {
  check_indices("bincount", in, 0, out.size(0));
  dispatch_index(in.dtype(), "bincount", [&]<class I>() {
    dispatch_dtype(out.dtype(), "bincount", [&]<class O>() {
      // Serial: every element may hit the same bin, and counting is memory-bound anyway.
      O* bins = out.data_ptr<O>();
      const I* values = in.data_ptr<I>();
      const O* w = weights.defined() ? weights.data_ptr<O>() : nullptr;
      const int64_t bin_stride = out.stride(0), in_stride = in.stride(0);
      const int64_t w_stride = w ? weights.stride(0) : 0;
      for (int64_t i = 0; i < in.numel(); ++i) {
        O& bin = bins[int64_t{values[i * in_stride]} * bin_stride];
        bin = static_cast<O>(bin + (w ? w[i * w_stride] : O(1)));
      }
    });
  });
}

namespace {

// Splits the linear range [begin, end) of t's elements (row-major) into runs along the innermost
// dim: f(coords, offset, n) gets the coordinates and element offset of a run's first element.
// A 0-dim tensor is one run of one element.
template <class F>
void for_each_innermost_run(const Tensor& t, int64_t begin, int64_t end, F&& f) {
  const int64_t nd = t.dim();
  Shape coords(nd);
  int64_t offset = 0;
  for (int64_t d = nd - 1, rem = begin; d >= 0; --d) {
    coords[d] = rem % t.size(d);
    rem /= t.size(d);
    offset += coords[d] * t.stride(d);
  }
  if (nd == 0) {
    if (begin < end) f(coords, offset, int64_t{1});
    return;
  }
  const int64_t inner = t.size(nd - 1);
  while (begin < end) {
    const int64_t n = std::min(inner - coords[nd - 1], end - begin);
    f(coords, offset, n);
    begin += n;
    coords[nd - 1] += n;
    offset += n * t.stride(nd - 1);
    for (int64_t d = nd - 1; d > 0 && coords[d] == t.size(d); --d) {  // carry
      offset += t.stride(d - 1) - coords[d] * t.stride(d);
      coords[d] = 0;
      ++coords[d - 1];
    }
  }
}

}  // namespace

Tensor nonzero(const Tensor& in) {
  return dispatch_dtype(in.dtype(), "nonzero", [&]<class T>() {
    const int64_t numel = in.numel(), nd = in.dim();
    const T* data = in.data_ptr<T>();
    const int64_t step = nd == 0 ? 0 : in.stride(nd - 1);
    // Two passes over fixed chunks: count per chunk, then each chunk writes its coordinates
    // after those of the chunks before it, so the result stays in row-major order.
    const int64_t chunks = (numel + kGrainSize - 1) / kGrainSize;
    auto for_each_run_of_chunk = [&](int64_t c, auto&& f) {
      for_each_innermost_run(in, c * kGrainSize, std::min(numel, (c + 1) * kGrainSize), f);
    };
    std::vector<int64_t> first(chunks + 1, 0);
    parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        int64_t count = 0;
        for_each_run_of_chunk(c, [&](const Shape&, int64_t offset, int64_t n) {
          const T* p = data + offset;
          if (step == 1) {
            for (int64_t i = 0; i < n; ++i) count += p[i] != T(0);
          } else {
            for (int64_t i = 0; i < n; ++i) count += p[i * step] != T(0);
          }
        });
        first[c + 1] = count;
      }
    });
    for (int64_t c = 0; c < chunks; ++c) first[c + 1] += first[c];
    Tensor out = empty({first[chunks], nd}, TensorOptions(DType::Int64).device(in.device()));
    int64_t* coords = out.data_ptr<int64_t>();
    parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        // Branch-free compaction: every element writes its coordinates into the next free row,
        // which only a non-zero one claims. Once the chunk's rows are all claimed only zeros
        // remain, so no write ever lands in the next chunk's rows.
        int64_t* row = coords + first[c] * nd;
        int64_t* const rows_end = coords + first[c + 1] * nd;
        for_each_run_of_chunk(c, [&](const Shape& at, int64_t offset, int64_t n) {
          for (int64_t i = 0; i < n && row != rows_end; ++i) {
            std::copy(at.begin(), at.end(), row);
            row[nd - 1] += i;  // `at` is the run's first element
            row += nd * static_cast<int64_t>(data[offset + i * step] != T(0));
          }
        });
      }
    });
    return out;
  });
}

}  // namespace mixgrad::cpu
