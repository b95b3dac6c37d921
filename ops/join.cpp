// Joining (cat, stack, repeat) and splitting (split, chunk). Splits return narrow views, so
// their gradients accumulate into regions of the input's buffer; cat hands each input a narrow
// view of the incoming gradient. Neither direction copies more than the result itself.
#include "ops/join.h"

#include <algorithm>

#include "autograd/function.h"
#include "backends/kernels.h"
#include "ops/creation.h"
#include "ops/reduce.h"
#include "ops/view.h"

namespace mixgrad {

namespace {

// PyTorch's legacy rule: a 1-D tensor of shape [0] joins any cat without matching its shape.
bool skipped_by_cat(const Tensor& t) {
  return t.dim() == 1 && t.size(0) == 0;
}

std::vector<Tensor> narrow_pieces(const Tensor& x, int64_t dim, const std::vector<int64_t>& sizes) {
  std::vector<Tensor> pieces;
  pieces.reserve(sizes.size());
  int64_t start = 0;
  for (int64_t size : sizes) {
    pieces.push_back(narrow(x, dim, start, size));
    start += size;
  }
  return pieces;
}

void check_splittable(const char* op, const Tensor& x) {
  MG_CHECK(x.defined(), op, "got an undefined tensor");
  MG_CHECK(x.dim() > 0, op, "cannot split a 0-dim tensor");
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  MG_CHECK(!tensors.empty(), "cat", "expected a non-empty list of tensors");
  const int64_t n = static_cast<int64_t>(tensors.size());
  int64_t ref = -1;  // the tensor whose shape the others must match
  DType dtype = tensors[0].defined() ? tensors[0].dtype() : DType::Float32;
  for (int64_t i = 0; i < n; ++i) {
    const Tensor& t = tensors[i];
    MG_CHECK(t.defined(), "cat", "tensor ", i, " is undefined");
    MG_CHECK(t.dim() > 0, "cat", "tensor ", i, " is 0-dim and cannot be concatenated");
    MG_CHECK(t.device() == tensors[0].device(), "cat", "tensor ", i, " is ", describe(t),
             " but tensor 0 is ", describe(tensors[0]));
    // Every input has dims, so result_type's scalar rules never apply: plain promotion.
    dtype = promote_types(dtype, t.dtype());
    if (ref < 0 && !skipped_by_cat(t)) ref = i;
  }
  if (ref < 0) ref = 0;  // all inputs are [0]: the result is [0] too
  const Tensor& r = tensors[ref];
  const int64_t d = wrap_dim(dim, r.dim(), "cat");
  Shape out_shape = r.shape();
  out_shape[d] = 0;
  std::vector<int64_t> starts(n, -1), sizes(n, 0);  // start -1: skipped input
  for (int64_t i = 0; i < n; ++i) {
    const Tensor& t = tensors[i];
    if (i != ref && skipped_by_cat(t)) continue;
    MG_CHECK(t.dim() == r.dim(), "cat", "tensor ", i, " has shape ", t.shape(), " but tensor ", ref,
             " has shape ", r.shape(), " (different number of dims)");
    for (int64_t k = 0; k < r.dim(); ++k)
      MG_CHECK(k == d || t.size(k) == r.size(k), "cat", "sizes must match except in dim ", d,
               ": tensor ", i, " has shape ", t.shape(), " but tensor ", ref, " has shape ",
               r.shape());
    starts[i] = out_shape[d];
    sizes[i] = t.size(d);
    out_shape[d] = checked_add(out_shape[d], t.size(d), "cat", "the concatenated size");
  }
  Tensor out = empty(out_shape, TensorOptions(dtype).device(r.device()));
  for (int64_t i = 0; i < n; ++i)
    if (starts[i] >= 0 && sizes[i] > 0)
      kernels::copy(out.device(), narrow(out, d, starts[i], sizes[i]), tensors[i]);
  record("cat", out, tensors, [d, starts, sizes](const Tensor& g, InputGrads in) {
    for (size_t i = 0; i < starts.size(); ++i)
      if (starts[i] >= 0 && in[i].needed()) in[i].add(narrow(g, d, starts[i], sizes[i]));
  });
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  MG_CHECK(!tensors.empty(), "stack", "expected a non-empty list of tensors");
  MG_CHECK(tensors[0].defined(), "stack", "tensor 0 is undefined");
  const Tensor& first = tensors[0];
  const int64_t d = wrap_dim(dim, first.dim() + 1, "stack");
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    MG_CHECK(t.defined(), "stack", "tensor ", i, " is undefined");
    MG_CHECK(t.shape() == first.shape(), "stack", "all tensors must have the same shape: tensor ",
             i, " has shape ", t.shape(), " but tensor 0 has shape ", first.shape());
    parts.push_back(unsqueeze(t, d));
  }
  return cat(parts, d);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  check_splittable("split", x);
  const int64_t d = wrap_dim(dim, x.dim(), "split");
  const int64_t size = x.size(d);
  MG_CHECK(split_size > 0 || (split_size == 0 && size == 0), "split",
           "split_size must be "
           "positive (0 only for an empty dim), got ",
           split_size, " for dim ", d, " of size ", size, " (shape ", x.shape(), ")");
  // An empty dim still gives one (empty) piece.
  const int64_t count =  // not (size + split_size - 1) / split_size: that overflows
      split_size == 0 ? 1 : std::max<int64_t>(size / split_size + (size % split_size != 0), 1);
  std::vector<int64_t> sizes(count);
  for (int64_t i = 0; i < count; ++i) sizes[i] = std::min(split_size, size - i * split_size);
  return narrow_pieces(x, d, sizes);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  check_splittable("split", x);
  const int64_t d = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    MG_CHECK(s >= 0, "split", "split sizes must be non-negative, got ", sizes);
    total = checked_add(total, s, "split", "the sum of the split sizes");
  }
  MG_CHECK(total == x.size(d), "split", "split sizes ", sizes, " add up to ", total, " but dim ", d,
           " of shape ", x.shape(), " has size ", x.size(d));
  return narrow_pieces(x, d, sizes);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  check_splittable("chunk", x);
  MG_CHECK(chunks > 0, "chunk", "chunks must be positive, got ", chunks);
  const int64_t d = wrap_dim(dim, x.dim(), "chunk");
  const int64_t size = x.size(d);
  // An empty dim still gives `chunks` (empty) pieces, which split by size could not express.
  if (size == 0) return narrow_pieces(x, d, std::vector<int64_t>(chunks, 0));
  return split(x, size / chunks + (size % chunks != 0), d);
}

Tensor repeat(const Tensor& x, const Shape& repeats) {
  MG_CHECK(x.defined(), "repeat", "got an undefined tensor");
  const int64_t n = static_cast<int64_t>(repeats.size());
  MG_CHECK(n >= x.dim(), "repeat", "got ", n, " repeat counts ", repeats, " for a tensor of shape ",
           x.shape(), "; need at least one per dim");
  for (int64_t r : repeats)
    MG_CHECK(r >= 0, "repeat", "repeat counts must be non-negative, got ", repeats);
  // Dim i of the (left-padded) input becomes the dim pair (r_i, s_i): the result is the input
  // broadcast along the r dims, and its gradient sums over them.
  const int64_t lead = n - x.dim();
  Shape interleaved, tiled, out_shape;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t s = i < lead ? 1 : x.size(i - lead);
    interleaved.insert(interleaved.end(), {1, s});
    tiled.insert(tiled.end(), {repeats[i], s});
    out_shape.push_back(checked_mul(repeats[i], s, "repeat", "a repeated size"));
  }
  Tensor out = empty(out_shape, options_of(x));
  if (out.numel() == 0) {  // nothing to copy; the tiled shape may not even be countable
    record("repeat", out, {x}, [shape = x.shape()](const Tensor& g, InputGrads in) {
      in[0].add(zeros(shape, options_of(g)));
    });
    return out;
  }
  {
    NoGradGuard no_grad;
    kernels::copy(out.device(), view(out, tiled), expand(reshape(x, interleaved), tiled));
  }
  record("repeat", out, {x}, [tiled, shape = x.shape()](const Tensor& g, InputGrads in) {
    Shape repeated_dims;
    for (size_t i = 0; i < tiled.size(); i += 2)
      if (tiled[i] != 1) repeated_dims.push_back(static_cast<int64_t>(i));
    Tensor per_copy = reshape(g, tiled);
    if (!repeated_dims.empty()) per_copy = sum(per_copy, repeated_dims);
    in[0].add(reshape(per_copy, shape));
  });
  return out;
}

}  // namespace mixgrad
