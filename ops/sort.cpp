// Sorting and selection: topk, sort, argsort. The selected values are differentiable: their
// gradient is scattered back into the input's shape at the returned indices.
#include "ops/sort.h"

#include "autograd/function.h"
#include "backends/kernels.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/view.h"

namespace mixgrad {

namespace {

// The input as the kernels see it: rows along a wrapped dim, a 0-dim tensor read as [1].
struct Rows {
  Tensor in;
  int64_t dim;
  int64_t length() const { return in.shape()[dim]; }
};

Rows rows_of(const char* op, const Tensor& x, int64_t dim) {
  MG_CHECK(x.defined(), op, "got an undefined tensor");
  const int64_t d = wrap_dim(dim, x.dim(), op);
  return {x.dim() == 0 ? reshape(x, {1}) : x, d};
}

// Values (input dtype) and int64 indices holding `length` elements along the row dim.
ValuesIndices empty_selection(const Rows& rows, int64_t length) {
  Shape shape = rows.in.shape();
  shape[rows.dim] = length;
  const Device device = rows.in.device();
  return {empty(shape, TensorOptions(rows.in.dtype()).device(device)),
          empty(shape, TensorOptions(DType::Int64).device(device))};
}

// A 0-dim input gives 0-dim results whenever they hold its one element.
ValuesIndices match_input_rank(const Tensor& x, ValuesIndices r) {
  if (x.dim() == 0 && r.values.numel() == 1) return {reshape(r.values, {}), reshape(r.indices, {})};
  return r;
}

// d values / d input: each selected value's gradient goes back to the position it came from.
void record_selection(const char* name, const ValuesIndices& r, const Rows& rows) {
  record(name, r.values, {rows.in},
         [indices = save(r.indices), dim = rows.dim](const Tensor& g, InputGrads in) {
           if (!in[0].needed()) return;
           Tensor& buffer = in[0].buffer();
           kernels::scatter(buffer.device(), buffer, dim, indices.get(), to(g, buffer.dtype()),
                            kernels::ScatterMode::Add);
         });
}

ValuesIndices sort_rows(const Rows& rows, bool descending, bool stable) {
  ValuesIndices r = empty_selection(rows, rows.length());
  kernels::sort(rows.in.device(), r.values, r.indices, rows.in, rows.dim, descending, stable);
  return r;
}

}  // namespace

ValuesIndices topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
  const Rows rows = rows_of("topk", x, dim);
  MG_CHECK(x.dtype() != DType::Bool, "topk",
           "bool tensors are not supported; convert with to(kInt32) first");
  MG_CHECK(k >= 0 && k <= rows.length(), "topk", "k = ", k, " is out of range [0, ", rows.length(),
           "] for dim ", rows.dim, " of ", describe(x));
  ValuesIndices r = empty_selection(rows, k);
  kernels::topk(rows.in.device(), r.values, r.indices, rows.in, k, rows.dim, largest, sorted);
  record_selection("topk", r, rows);
  return match_input_rank(x, r);
}

ValuesIndices sort(const Tensor& x, int64_t dim, bool descending, bool stable) {
  const Rows rows = rows_of("sort", x, dim);
  ValuesIndices r = sort_rows(rows, descending, stable);
  record_selection("sort", r, rows);
  return match_input_rank(x, r);
}

Tensor argsort(const Tensor& x, int64_t dim, bool descending, bool stable) {
  return match_input_rank(x, sort_rows(rows_of("argsort", x, dim), descending, stable)).indices;
}

}  // namespace mixgrad
