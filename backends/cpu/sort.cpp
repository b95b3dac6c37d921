// CPU sort and topk along one dim, rows in parallel. Every comparison breaks value ties by the
// input index, so the order is total: sorting is stable and topk keeps the lower index first.
// NaN ranks above every number (as in PyTorch) and equal to another NaN.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "backends/cpu/dim_rows.h"
#include "backends/cpu/kernels.h"
#include "core/dispatch.h"

namespace mixgrad::cpu {

namespace {

template <class T>
struct Entry {
  T value;
  int64_t index;
};

// a < b in the order where NaN is the largest value.
template <class T>
bool value_less(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(b)) return !std::isnan(a);
  }
  return a < b;
}

// Ranking of entries: Descending puts larger values first; equal values go by input index.
template <class T, bool Descending>
struct Rank {
  // Whether value a ranks strictly ahead of value b.
  static bool ahead(T a, T b) { return Descending ? value_less(b, a) : value_less(a, b); }
  bool operator()(const Entry<T>& a, const Entry<T>& b) const {
    return ahead(a.value, b.value) || (!ahead(b.value, a.value) && a.index < b.index);
  }
};

// Reads one input row and writes selected entries to the value/index rows of the outputs.
template <class T>
struct RowIO {
  const T* in;
  T* values;
  int64_t* indices;
  int64_t in_stride, values_stride, indices_stride;

  void load(Entry<T>* entries, int64_t n) const {
    for (int64_t i = 0; i < n; ++i) entries[i] = {in[i * in_stride], i};
  }
  void store(const Entry<T>* entries, int64_t count) const {
    for (int64_t i = 0; i < count; ++i) {
      values[i * values_stride] = entries[i].value;
      indices[i * indices_stride] = entries[i].index;
    }
  }
};

// Walks the rows of (values, indices, in) in parallel; row(io, scratch) handles one row, with
// `scratch` a per-thread buffer of scratch_len entries reused across that thread's rows.
template <class T, class RowFn>
void for_each_row(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim,
                  int64_t scratch_len, RowFn&& row) {
  const DimRows<3> rows({&values, &indices, &in}, dim);
  T* values_base = values.data_ptr<T>();
  int64_t* indices_base = indices.data_ptr<int64_t>();
  const T* in_base = in.data_ptr<T>();
  rows.parallel(rows.length(2), [&](int64_t begin, int64_t end) {
    std::vector<Entry<T>> scratch(scratch_len);
    rows.for_rows(begin, end, [&](const DimRows<3>::Offsets& off) {
      const RowIO<T> io{in_base + off[2], values_base + off[0], indices_base + off[1],
                        rows.stride(2),   rows.stride(0),       rows.stride(1)};
      row(io, scratch.data());
    });
  });
}

template <class T, bool Descending>
void sort_typed(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim) {
  const int64_t n = in.dim() == 0 ? 1 : in.shape()[dim];
  if (n == 0) return;
  for_each_row<T>(values, indices, in, dim, n, [n](const RowIO<T>& io, Entry<T>* entries) {
    io.load(entries, n);
    std::sort(entries, entries + n, Rank<T, Descending>{});
    io.store(entries, n);
  });
}

// Up to this k, topk keeps a sorted run of the best k while scanning the row once: no entry
// array to fill, and after the first few elements most are rejected by one comparison. This is
// the MoE gating case (rows of 8..256, k of 1..8).
constexpr int64_t kInsertionTopK = 16;

template <class T, bool Largest>
void topk_by_insertion(const RowIO<T>& io, Entry<T>* best, int64_t n, int64_t k) {
  using R = Rank<T, Largest>;
  // Locals, not io's fields: stores into `best` could alias them and force reloads.
  const T* in = io.in;
  const int64_t stride = io.in_stride;
  int64_t filled = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T v = in[i * stride];
    // Scanning in index order, an equal value never displaces an earlier one.
    if (filled == k && !R::ahead(v, best[k - 1].value)) continue;
    int64_t j = filled < k ? filled++ : k - 1;
    for (; j > 0 && R::ahead(v, best[j - 1].value); --j) best[j] = best[j - 1];
    best[j] = {v, i};
  }
  io.store(best, k);
}

template <class T, bool Largest>
void topk_by_selection(const RowIO<T>& io, Entry<T>* entries, int64_t n, int64_t k, bool sorted) {
  const Rank<T, Largest> rank;
  io.load(entries, n);
  // A heap of k beats selecting then sorting when k is a small fraction of the row.
  if (sorted && k * 64 <= n) {
    std::partial_sort(entries, entries + k, entries + n, rank);
  } else {
    std::nth_element(entries, entries + (k - 1), entries + n, rank);
    if (sorted) std::sort(entries, entries + (k - 1), rank);
  }
  io.store(entries, k);
}

template <class T, bool Largest>
void topk_typed(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k,
                int64_t dim, bool sorted) {
  if (k == 0) return;
  const int64_t n = in.dim() == 0 ? 1 : in.shape()[dim];
  if (k <= kInsertionTopK) {
    for_each_row<T>(values, indices, in, dim, k, [n, k](const RowIO<T>& io, Entry<T>* best) {
      topk_by_insertion<T, Largest>(io, best, n, k);
    });
  } else {
    for_each_row<T>(values, indices, in, dim, n,
                    [n, k, sorted](const RowIO<T>& io, Entry<T>* entries) {
                      topk_by_selection<T, Largest>(io, entries, n, k, sorted);
                    });
  }
}

}  // namespace

void sort(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim,
          bool descending, bool stable) {
  // Ties are already ordered by index (see Rank), so every sort here is stable.
  (void)stable;
  dispatch_dtype(in.dtype(), "sort", [&]<class T>() {
    dispatch_enum<bool, 2>(descending, [&]<bool Descending>() {
      sort_typed<T, Descending>(values, indices, in, dim);
    });
  });
}

void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, int64_t dim,
          bool largest, bool sorted) {
  dispatch_dtype(in.dtype(), "topk", [&]<class T>() {
    dispatch_enum<bool, 2>(largest, [&]<bool Largest>() {
      topk_typed<T, Largest>(values, indices, in, k, dim, sorted);
    });
  });
}

}  // namespace mixgrad::cpu
