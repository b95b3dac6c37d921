// Index ops: gather/scatter along a dim, index_select/index_add of whole slices, advanced
// indexing (index/index_put), bincount, one_hot, nonzero and masked_select.
//
// Forward passes run their helper ops under NoGradGuard and record one node per op; backward
// passes accumulate into the region of the input's gradient buffer they touch (GradSink::buffer)
// instead of building full-size temporaries.
#include "ops/index.h"

#include <cmath>
#include <numeric>

#include "autograd/function.h"
#include "backends/kernels.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/inplace.h"
#include "ops/view.h"

namespace mixgrad {

using kernels::ScatterMode;

namespace {

bool is_index_dtype(DType t) {
  return t == DType::Int64 || t == DType::Int32;
}

void check_index_tensor(const char* op, const Tensor& x, const Tensor& index) {
  MG_CHECK(x.defined() && index.defined(), op, "got an undefined tensor");
  MG_CHECK(is_index_dtype(index.dtype()), op, "indices must be int64 or int32, got ",
           index.dtype());
  MG_CHECK(index.device() == x.device(), op, "index on ", index.device(), " but the tensor on ",
           x.device());
}

// A source tensor must match the destination's dtype and device. A 0-dim source (a number)
// instead converts to them.
Tensor source_like(const char* op, const Tensor& x, const Tensor& src) {
  MG_CHECK(src.defined(), op, "got an undefined source tensor");
  if (src.dim() == 0) return to(to(src, x.device()), x.dtype());
  MG_CHECK(src.dtype() == x.dtype(), op, "source of dtype ", src.dtype(),
           " does not match the tensor's dtype ", x.dtype());
  MG_CHECK(src.device() == x.device(), op, "source on ", src.device(), " but the tensor on ",
           x.device());
  return src;
}

// PyTorch counts a 0-dim tensor as one dim of size 1 in index ops; kernels see it that way.
Tensor as_1d(const Tensor& t) {
  return t.dim() == 0 ? view(t, {1}) : t;
}

// Smallest and largest element of a non-empty integer tensor, via the reduce kernel (so the
// check runs wherever the tensor lives).
std::pair<int64_t, int64_t> min_max(const Tensor& t) {
  Shape dims(t.dim());
  std::iota(dims.begin(), dims.end(), 0);
  const TensorOptions options = options_of(t);
  Tensor lo = empty(Shape(t.dim(), 1), options), hi = empty(Shape(t.dim(), 1), options);
  kernels::reduce(t.device(), kernels::ReduceOp::Min, lo, Tensor(), t, dims);
  kernels::reduce(t.device(), kernels::ReduceOp::Max, hi, Tensor(), t, dims);
  return {lo.item<int64_t>(), hi.item<int64_t>()};
}

// Runs a kernel shared by several ops (scatter for scatter_add_, index_scatter for index_add)
// so that its index errors name the op the caller used.
template <class F>
void as_op(const char* op, F&& kernel_call) {
  try {
    kernel_call();
  } catch (const Error& e) {
    if (e.op() == op) throw;
    throw Error(op, std::string(e.what()).substr(e.op().size() + 2));  // drop "kernel: "
  }
}

// The kernel takes alpha as a double and converts it to x's dtype: for an integer x it must be
// a whole number the double holds exactly (infinities and |alpha| > 2^53 are refused).
void check_alpha(const char* op, const Tensor& x, Scalar alpha) {
  const double a = alpha.to_double();
  constexpr int64_t kExact = int64_t{1} << 53;
  const bool exact = alpha.is_floating()
                         ? std::isfinite(a) && a == std::floor(a) && std::fabs(a) <= 0x1p53
                         : alpha.to_int() >= -kExact && alpha.to_int() <= kExact;
  MG_CHECK(x.is_floating_point() || exact, op, "alpha ", a,
           " must be an integer of magnitude at most 2^53 for a tensor of dtype ", x.dtype());
}

// Adds `g` (shaped like the index of a gather/scatter) to the gradient of a source that may be
// larger than the index: only its leading region received values. A 0-dim source (a number
// broadcast over the index) gets the sum.
void add_to_leading_region(GradSink& sink, const Tensor& g) {
  const Shape& shape = sink.meta().shape;
  if (g.shape() == shape || static_cast<size_t>(g.dim()) != shape.size()) {
    sink.add(g);
    return;
  }
  Tensor region = sink.buffer();
  for (int64_t d = 0; d < g.dim(); ++d) region = narrow(region, d, 0, g.size(d));
  region.add_(g);
}

// ---- gather / scatter ----

// Operands of gather/scatter as the kernels take them: 0-dim tensors as 1-D, dim wrapped, and
// shapes checked (index.size(d) <= x.size(d) except along dim).
struct DimIndex {
  Tensor x, index;
  int64_t dim = 0;
};

DimIndex dim_index(const char* op, const Tensor& x, int64_t dim, const Tensor& index) {
  check_index_tensor(op, x, index);
  DimIndex a{as_1d(x), as_1d(index), 0};
  a.dim = wrap_dim(dim, a.x.dim(), op);
  MG_CHECK(a.index.dim() == a.x.dim(), op, "index of shape ", index.shape(),
           " must have as many dims as the input of shape ", x.shape());
  for (int64_t d = 0; d < a.x.dim(); ++d)
    MG_CHECK(d == a.dim || a.index.size(d) <= a.x.size(d), op, "index of shape ", index.shape(),
             " is larger than the input of shape ", x.shape(), " at dim ", d, " (only dim ", a.dim,
             " may be larger)");
  return a;
}

// Scatter operands; the source is either a tensor covering the index (index.size(d) <=
// src.size(d) for every d) or a 0-dim value broadcast over it.
struct ScatterArgs {
  DimIndex at;
  Tensor src;
};

ScatterArgs scatter_args(const char* op, const Tensor& x, int64_t dim, const Tensor& index,
                         const Tensor& src) {
  ScatterArgs a{dim_index(op, x, dim, index), source_like(op, x, src)};
  if (a.src.dim() == 0) {
    a.src = expand(a.src, a.at.index.shape());
    return a;
  }
  MG_CHECK(a.src.dim() == a.at.x.dim(), op, "source of shape ", src.shape(),
           " must have as many dims as the input of shape ", x.shape());
  for (int64_t d = 0; d < a.src.dim(); ++d)
    MG_CHECK(a.at.index.size(d) <= a.src.size(d), op, "index of shape ", index.shape(),
             " is larger than the source of shape ", src.shape(), " at dim ", d);
  return a;
}

Tensor scatter_out_of_place(const char* op, ScatterMode mode, const Tensor& x, int64_t dim,
                            const Tensor& index, const Tensor& src) {
  Tensor out;
  int64_t d = 0;
  {
    NoGradGuard no_grad;
    const ScatterArgs a = scatter_args(op, x, dim, index, src);
    d = a.at.dim;
    out = clone(x);
    as_op(op, [&] { kernels::scatter(out.device(), as_1d(out), d, a.at.index, a.src, mode); });
  }
  record(op, out, {x, src}, [d, mode, si = save(index)](const Tensor& g, InputGrads in) {
    const Tensor& index = si.get();
    // Copy overwrites: the old values at the scattered positions get no gradient.
    if (in[0].needed()) in[0].add(mode == ScatterMode::Copy ? scatter(g, d, index, 0) : g);
    if (in[1].needed()) add_to_leading_region(in[1], gather(g, d, index));
  });
  return out;
}

Tensor& scatter_in_place(const char* op, ScatterMode mode, Tensor& x, int64_t dim,
                         const Tensor& index, const Tensor& src) {
  // The source must match x's dtype (or be a number converted to it), so the result is x's.
  // Not element-wise: an operand over x's memory is read through a temporary.
  return apply_inplace(
      x, {.name = op, .result_dtype = x.dtype()}, {index, src},
      [&] {
        const ScatterArgs a = scatter_args(op, x, dim, index, src);
        as_op(op,
              [&] { kernels::scatter(x.device(), as_1d(x), a.at.dim, a.at.index, a.src, mode); });
      },
      [&](const Tensor& current) {
        return scatter_out_of_place(op, mode, current, dim, index, src);
      });
}

// ---- index_select / index_add ----

void check_index_vector(const char* op, const Tensor& x, const Tensor& index) {
  check_index_tensor(op, x, index);
  MG_CHECK(index.dim() <= 1, op, "index must be 0-D or 1-D, got shape ", index.shape());
}

struct IndexAddArgs {
  Tensor x, src;
  int64_t dim = 0;
};

IndexAddArgs index_add_args(const char* op, const Tensor& x, int64_t dim, const Tensor& index,
                            const Tensor& src, Scalar alpha) {
  check_index_vector(op, x, index);
  MG_CHECK(src.defined(), op, "got an undefined source tensor");
  MG_CHECK(src.dtype() == x.dtype(), op, "source of dtype ", src.dtype(),
           " does not match the tensor's dtype ", x.dtype());
  MG_CHECK(src.device() == x.device(), op, "source on ", src.device(), " but the tensor on ",
           x.device());
  check_alpha(op, x, alpha);
  IndexAddArgs a{as_1d(x), as_1d(src), 0};
  a.dim = wrap_dim(dim, a.x.dim(), op);
  MG_CHECK(a.src.dim() == a.x.dim(), op, "source of shape ", src.shape(),
           " must have as many dims as the tensor of shape ", x.shape());
  for (int64_t d = 0; d < a.x.dim(); ++d)
    MG_CHECK(d == a.dim || a.src.size(d) == a.x.size(d), op, "source of shape ", src.shape(),
             " does not match the tensor of shape ", x.shape(), " at dim ", d);
  MG_CHECK(a.src.size(a.dim) == index.numel(), op, "source has ", a.src.size(a.dim),
           " slices along dim ", a.dim, " but the index has ", index.numel(), " elements");
  return a;
}

Tensor index_add_out_of_place(const char* op, const Tensor& x, int64_t dim, const Tensor& index,
                              const Tensor& src, Scalar alpha) {
  Tensor out;
  int64_t d = 0;
  {
    NoGradGuard no_grad;
    const IndexAddArgs a = index_add_args(op, x, dim, index, src, alpha);
    d = a.dim;
    out = clone(x);
    as_op(op, [&] {
      kernels::index_scatter(out.device(), as_1d(out), d, index, a.src, ScatterMode::Add,
                             alpha.to_double());
    });
  }
  record(op, out, {x, src},
         [d, si = save(index), alpha = alpha.to_double()](const Tensor& g, InputGrads in) {
           in[0].add(g);
           if (!in[1].needed()) return;
           Tensor gs = index_select(g, d, si.get());
           if (gs.dim() != static_cast<int64_t>(in[1].meta().shape.size()))
             gs = gs.view(in[1].meta().shape);  // a 0-dim source of a 0-dim tensor
           in[1].add(alpha == 1 ? gs : gs * alpha);
         });
  return out;
}

// ---- advanced indexing ----

// x[indices...] resolved to rows of x with its indexed (leading) dims flattened: result row i is
// x.reshape(flat_shape)[linear[i]].
struct IndexShapes {
  Shape index_shape;   // the index tensors' broadcast shape (N elements)
  Shape flat_shape;    // [prod(indexed sizes), kept sizes...]
  Shape rows_shape;    // [N, kept sizes...]
  Shape result_shape;  // index_shape + kept sizes
};

struct AdvancedIndex {
  Tensor linear;  // int64 [N], negative indices already wrapped
  IndexShapes shapes;
};

AdvancedIndex advanced_index(const char* op, const Tensor& x, const std::vector<Tensor>& indices) {
  MG_CHECK(x.defined(), op, "got an undefined tensor");
  const int64_t k = static_cast<int64_t>(indices.size());
  MG_CHECK(k >= 1, op, "expected at least one index tensor");
  MG_CHECK(k <= x.dim(), op, "too many indices (", k, ") for a tensor of shape ", x.shape());
  AdvancedIndex ai;
  for (int64_t j = 0; j < k; ++j) {
    check_index_tensor(op, x, indices[j]);
    ai.shapes.index_shape = j == 0
                                ? indices[j].shape()
                                : broadcast_shapes(ai.shapes.index_shape, indices[j].shape(), op);
  }
  NoGradGuard no_grad;
  // Horner's scheme over the indexed dims: linear = ((i0 * s1 + i1) * s2 + i2) ...
  Tensor linear;
  int64_t flat = 1;
  for (int64_t j = 0; j < k; ++j) {
    const int64_t size = x.size(j);
    Tensor idx = to(indices[j], DType::Int64);
    if (idx.numel() > 0) {
      const auto [lo, hi] = min_max(idx);
      if (lo < -size) detail::throw_index_out_of_bounds(op, lo, j, size, true);
      if (hi >= size) detail::throw_index_out_of_bounds(op, hi, j, size, true);
    }
    idx = where(lt(idx, 0), idx + size, idx);
    linear = j == 0 ? idx : linear * size + idx;
    flat *= size;
  }
  ai.linear = reshape(contiguous(expand(linear, ai.shapes.index_shape)), {-1});
  const Shape kept(x.shape().begin() + k, x.shape().end());
  ai.shapes.flat_shape = {flat};
  ai.shapes.rows_shape = {numel_of(ai.shapes.index_shape)};
  ai.shapes.result_shape = ai.shapes.index_shape;
  for (int64_t s : kept) {
    ai.shapes.flat_shape.push_back(s);
    ai.shapes.rows_shape.push_back(s);
    ai.shapes.result_shape.push_back(s);
  }
  return ai;
}

// Writes (or adds) rows of `values` (broadcast to the indexed shape) into `target` at the
// advanced index.
void put_rows(const char* op, Tensor& target, const AdvancedIndex& ai, const Tensor& values,
              bool accumulate) {
  NoGradGuard no_grad;
  Tensor v = source_like(op, target, values);
  MG_CHECK(broadcast_shapes(v.shape(), ai.shapes.result_shape, op) == ai.shapes.result_shape, op,
           "values of shape ", values.shape(), " cannot be broadcast to the indexed shape ",
           ai.shapes.result_shape);
  v = reshape(expand(v, ai.shapes.result_shape), ai.shapes.rows_shape);
  const ScatterMode mode = accumulate ? ScatterMode::Add : ScatterMode::Copy;
  bool viewable = false;
  view_strides(target.shape(), target.strides(), ai.shapes.flat_shape, viewable);
  if (viewable) {
    kernels::index_scatter(target.device(), view(target, ai.shapes.flat_shape), 0, ai.linear, v,
                           mode, 1.0);
    return;
  }
  // The indexed dims of a strided target cannot be flattened in place: work on a copy.
  Tensor dense = clone(target);
  kernels::index_scatter(target.device(), view(dense, ai.shapes.flat_shape), 0, ai.linear, v, mode,
                         1.0);
  kernels::copy(target.device(), target, dense);
}

Tensor index_put_out_of_place(const char* op, const Tensor& x, const std::vector<Tensor>& indices,
                              const Tensor& values, bool accumulate) {
  const AdvancedIndex ai = advanced_index(op, x, indices);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = clone(x);
    put_rows(op, out, ai, values, accumulate);
  }
  record(
      op, out, {x, values},
      [sl = save(ai.linear), shapes = ai.shapes, accumulate](const Tensor& g, InputGrads in) {
        const AdvancedIndex at{sl.get(), shapes};
        if (in[0].needed()) {
          if (accumulate) {
            in[0].add(g);
          } else {  // overwritten positions get no gradient
            Tensor kept = clone(g);
            put_rows("index_put", kept, at, zeros({}, TensorOptions(g.dtype())), false);
            in[0].add(kept);
          }
        }
        if (in[1].needed())
          in[1].add(
              index_select(reshape(g, shapes.flat_shape), 0, at.linear).view(shapes.result_shape));
      });
  return out;
}

// Adds g at `positions` of the flattened `target` (which must be contiguous).
void add_at_flat_positions(const Tensor& target, const Tensor& positions, const Tensor& g) {
  Tensor flat = view(target, {-1});
  index_add_(flat, 0, positions, g);
}

}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor out;
  int64_t d = 0;
  {
    NoGradGuard no_grad;
    const DimIndex a = dim_index("gather", x, dim, index);
    d = a.dim;
    out = empty(index.shape(), options_of(x));
    kernels::gather(x.device(), as_1d(out), a.x, d, a.index);
  }
  record("gather", out, {x}, [d, si = save(index)](const Tensor& g, InputGrads in) {
    scatter_add_(in[0].buffer(), d, si.get(), g);
  });
  return out;
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_out_of_place("scatter", ScatterMode::Copy, x, dim, index, src);
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_out_of_place("scatter_add", ScatterMode::Add, x, dim, index, src);
}

Tensor& scatter_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_in_place("scatter_", ScatterMode::Copy, x, dim, index, src);
}

Tensor& scatter_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_in_place("scatter_add_", ScatterMode::Add, x, dim, index, src);
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  const char* op = "index_select";
  check_index_vector(op, x, index);
  Tensor out;
  int64_t d = 0;
  {
    NoGradGuard no_grad;
    const Tensor x1 = as_1d(x);
    d = wrap_dim(dim, x1.dim(), op);
    Shape shape = x.shape();
    if (x.dim() == 0) {
      MG_CHECK(index.numel() == 1, op, "indexing a 0-dim tensor needs exactly one index, got ",
               index.numel());
    } else {
      shape[d] = index.numel();
    }
    out = empty(shape, options_of(x));
    kernels::index_select(x.device(), as_1d(out), x1, d, index);
  }
  record(op, out, {x}, [d, si = save(index)](const Tensor& g, InputGrads in) {
    index_add_(in[0].buffer(), d, si.get(), g);
  });
  return out;
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src,
                 Scalar alpha) {
  return index_add_out_of_place("index_add", x, dim, index, src, alpha);
}

Tensor& index_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, Scalar alpha) {
  const char* op = "index_add_";
  // The source must match x's dtype, so the result is x's. Not element-wise: an operand over
  // x's memory is read through a temporary.
  return apply_inplace(
      x, {.name = op, .result_dtype = x.dtype()}, {index, src},
      [&] {
        const IndexAddArgs a = index_add_args(op, x, dim, index, src, alpha);
        as_op(op, [&] {
          kernels::index_scatter(x.device(), a.x, a.dim, index, a.src, ScatterMode::Add,
                                 alpha.to_double());
        });
      },
      [&](const Tensor& current) {
        return index_add_out_of_place(op, current, dim, index, src, alpha);
      });
}

Tensor index(const Tensor& x, const std::vector<Tensor>& indices) {
  const AdvancedIndex ai = advanced_index("index", x, indices);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = empty(ai.shapes.result_shape, options_of(x));
    kernels::index_select(x.device(), view(out, ai.shapes.rows_shape),
                          reshape(x, ai.shapes.flat_shape), 0, ai.linear);
  }
  record("index", out, {x},
         [sl = save(ai.linear), flat_shape = ai.shapes.flat_shape,
          rows_shape = ai.shapes.rows_shape](const Tensor& g, InputGrads in) {
           Tensor rows = view(in[0].buffer(), flat_shape);
           index_add_(rows, 0, sl.get(), reshape(g, rows_shape));
         });
  return out;
}

Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                 bool accumulate) {
  return index_put_out_of_place("index_put", x, indices, values, accumulate);
}

Tensor& index_put_(Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                   bool accumulate) {
  const char* op = "index_put_";
  // The source must match x's dtype (or be a number converted to it), so the result is x's.
  // Not element-wise: values over x's memory are read through a temporary.
  return apply_inplace(
      x, {.name = op, .result_dtype = x.dtype()}, {values},
      [&] { put_rows(op, x, advanced_index(op, x, indices), values, accumulate); },
      [&](const Tensor& current) {
        return index_put_out_of_place(op, current, indices, values, accumulate);
      });
}

Tensor bincount(const Tensor& x, const Tensor& weights, int64_t minlength) {
  const char* op = "bincount";
  MG_CHECK(x.defined(), op, "got an undefined tensor");
  MG_CHECK(is_index_dtype(x.dtype()), op, "expects an int64 or int32 tensor, got ", x.dtype());
  MG_CHECK(x.dim() == 1, op, "expects a 1-D tensor, got shape ", x.shape());
  MG_CHECK(minlength >= 0, op, "minlength must be non-negative, got ", minlength);
  DType out_dtype = DType::Int64;
  if (weights.defined()) {
    MG_CHECK(weights.dim() == 1 && weights.numel() == x.numel(), op, "weights of shape ",
             weights.shape(), " do not match the input of shape ", x.shape());
    MG_CHECK(weights.device() == x.device(), op, "weights on ", weights.device(),
             " but the input on ", x.device());
    out_dtype = weights.is_floating_point() ? weights.dtype() : DType::Float64;
  }
  int64_t length = minlength;
  if (x.numel() > 0) {
    const auto [lo, hi] = min_max(x);
    MG_CHECK(lo >= 0, op, "input values must be non-negative, got ", lo);
    length = std::max(length, hi + 1);
  }
  Tensor out = zeros({length}, TensorOptions(out_dtype).device(x.device()));
  NoGradGuard no_grad;
  kernels::bincount(x.device(), out, x, weights.defined() ? to(weights, out_dtype) : Tensor());
  return out;
}

Tensor one_hot(const Tensor& x, int64_t num_classes) {
  const char* op = "one_hot";
  MG_CHECK(x.defined(), op, "got an undefined tensor");
  MG_CHECK(is_index_dtype(x.dtype()), op, "expects an int64 or int32 tensor, got ", x.dtype());
  MG_CHECK(num_classes >= -1, op, "num_classes must be -1 or non-negative, got ", num_classes);
  if (x.numel() > 0) {
    const auto [lo, hi] = min_max(x);
    MG_CHECK(lo >= 0, op, "class values must be non-negative, got ", lo);
    if (num_classes == -1) num_classes = hi + 1;
    MG_CHECK(hi < num_classes, op, "class value ", hi, " is out of range for num_classes ",
             num_classes);
  }
  MG_CHECK(num_classes != -1, op,
           "cannot infer the number of classes from an empty tensor; pass num_classes");
  Shape shape = x.shape();
  shape.push_back(num_classes);
  const TensorOptions options = TensorOptions(DType::Int64).device(x.device());
  Tensor out = zeros(shape, options);
  const Tensor positions = unsqueeze(x, -1);
  kernels::scatter(x.device(), out, out.dim() - 1, positions,
                   expand(ones({}, options), positions.shape()), ScatterMode::Copy);
  return out;
}

Tensor nonzero(const Tensor& x) {
  MG_CHECK(x.defined(), "nonzero", "got an undefined tensor");
  return kernels::nonzero(x.device(), x);
}

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  const char* op = "masked_select";
  MG_CHECK(x.defined() && mask.defined(), op, "got an undefined tensor");
  MG_CHECK(mask.dtype() == DType::Bool, op, "mask must be bool, got ", mask.dtype());
  MG_CHECK(mask.device() == x.device(), op, "mask on ", mask.device(), " but the tensor on ",
           x.device());
  const Shape shape = broadcast_shapes(x.shape(), mask.shape(), op);
  Tensor positions, out;
  {
    NoGradGuard no_grad;
    positions = kernels::nonzero(x.device(), reshape(expand(mask, shape), {-1}));
    positions = view(positions, {-1});
    out = empty({positions.numel()}, options_of(x));
    kernels::index_select(x.device(), out, reshape(expand(x, shape), {-1}), 0, positions);
  }
  record(op, out, {x}, [sp = save(positions), shape](const Tensor& g, InputGrads in) {
    if (shape == in[0].meta().shape) {
      add_at_flat_positions(in[0].buffer(), sp.get(), g);
      return;
    }
    Tensor full = zeros(shape, options_of(g));
    add_at_flat_positions(full, sp.get(), g);
    in[0].add(full);  // the sink sums the dims x was broadcast along
  });
  return out;
}

}  // namespace mixgrad
