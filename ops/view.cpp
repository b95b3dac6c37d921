#include "ops/view.h"

#include <algorithm>

#include "autograd/function.h"
#include "core/strided_view.h"
#include "ops/copy.h"

namespace mixgrad {

namespace {

Tensor make_view(const Tensor& x, Shape sizes, Shape strides, int64_t offset) {
  return alias_with_layout(x, std::move(sizes), std::move(strides), offset);
}

// Views whose gradient is the incoming gradient reshaped back to the input's shape.
Tensor record_reshape_like(const char* name, const Tensor& x, Tensor out) {
  record(name, out, {x},
         [shape = x.shape()](const Tensor& g, InputGrads in) { in[0].add(reshape(g, shape)); });
  return out;
}

}  // namespace

Tensor view(const Tensor& x, const Shape& shape) {
  return record_reshape_like("view", x, strided::view(x, shape));
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  const Shape sizes = infer_size(shape, x.numel(), "reshape");
  bool ok = false;
  Shape strides = view_strides(x.shape(), x.strides(), sizes, ok);
  if (ok)
    return record_reshape_like("reshape", x, make_view(x, sizes, strides, x.storage_offset()));
  return view(contiguous(x), sizes);
}

Tensor permute(const Tensor& x, const Shape& dims) {
  const int64_t n = x.dim();
  MG_CHECK(static_cast<int64_t>(dims.size()) == n, "permute", "got ", dims.size(),
           " dims for a tensor with ", n, " dims");
  Shape sizes(n), strides(n), inverse(n);
  std::vector<bool> seen(n, false);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t d = wrap_dim(dims[i], n, "permute");
    MG_CHECK(!seen[d], "permute", "repeated dim ", d, " in ", dims);
    seen[d] = true;
    sizes[i] = x.shape()[d];
    strides[i] = x.strides()[d];
    inverse[d] = i;
  }
  Tensor out = make_view(x, sizes, strides, x.storage_offset());
  record("permute", out, {x},
         [inverse](const Tensor& g, InputGrads in) { in[0].add(permute(g, inverse)); });
  return out;
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  const int64_t d0 = wrap_dim(dim0, x.dim(), "transpose"),
                d1 = wrap_dim(dim1, x.dim(), "transpose");
  if (x.dim() == 0) return x;
  Shape dims(x.dim());
  for (int64_t i = 0; i < x.dim(); ++i) dims[i] = i;
  std::swap(dims[d0], dims[d1]);
  return permute(x, dims);
}

Tensor t(const Tensor& x) {
  MG_CHECK(x.dim() <= 2, "t", "expects a tensor with <= 2 dims, got shape ", x.shape(),
           "; use transpose()");
  return x.dim() < 2 ? x : transpose(x, 0, 1);
}

Tensor slice(const Tensor& x, int64_t dim, std::optional<int64_t> start_opt,
             std::optional<int64_t> end_opt, int64_t step) {
  MG_CHECK(x.dim() > 0, "slice", "cannot slice a 0-dim tensor");
  const int64_t d = wrap_dim(dim, x.dim(), "slice");
  MG_CHECK(step > 0, "slice", "step must be positive, got ", step);
  const int64_t size = x.shape()[d];
  auto clamp_bound = [size](int64_t v) {
    if (v < 0) v += size;
    return std::clamp<int64_t>(v, 0, size);
  };
  const int64_t start = clamp_bound(start_opt.value_or(0));
  const int64_t end = std::max(start, clamp_bound(end_opt.value_or(size)));
  // Neither can overflow: len > 1 only when step < size, and then stride * step fits too.
  const int64_t len = end == start ? 0 : (end - start - 1) / step + 1;
  Shape sizes = x.shape(), strides = x.strides();
  sizes[d] = len;
  if (len > 1) strides[d] *= step;
  Tensor out = make_view(x, sizes, strides, x.storage_offset() + start * x.strides()[d]);
  record("slice", out, {x}, [d, start, end, step](const Tensor& g, InputGrads in) {
    Tensor region = slice(in[0].buffer(), d, start, end, step);
    region.add_(g);
  });
  return out;
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  const strided::NarrowRange r = strided::checked_narrow_range(x, dim, start, length);
  return slice(x, r.dim, r.start, r.start + length, 1);
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  MG_CHECK(x.dim() > 0, "select", "cannot select from a 0-dim tensor");
  const int64_t d = wrap_dim(dim, x.dim(), "select");
  const int64_t size = x.shape()[d];
  MG_CHECK(index >= -size && index < size, "select", "index ", index, " is out of bounds for dim ",
           d, " with size ", size, " (shape ", x.shape(), ")");
  if (index < 0) index += size;
  Shape sizes = x.shape(), strides = x.strides();
  sizes.erase(sizes.begin() + d);
  strides.erase(strides.begin() + d);
  Tensor out = make_view(x, sizes, strides, x.storage_offset() + index * x.strides()[d]);
  record("select", out, {x}, [d, index](const Tensor& g, InputGrads in) {
    Tensor region = select(in[0].buffer(), d, index);
    region.add_(g);
  });
  return out;
}

Tensor expand(const Tensor& x, const Shape& shape) {
  Tensor out = strided::expand(x, shape);
  if (out.is_same(x)) return x;
  record("expand", out, {x}, [](const Tensor& g, InputGrads in) { in[0].add(g); });
  return out;
}

Tensor squeeze(const Tensor& x) {
  Shape sizes;
  for (int64_t s : x.shape())
    if (s != 1) sizes.push_back(s);
  return sizes.size() == x.shape().size() ? x : reshape(x, sizes);
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  const int64_t d = wrap_dim(dim, x.dim(), "squeeze");
  if (x.dim() == 0 || x.shape()[d] != 1) return x;
  Shape sizes = x.shape();
  sizes.erase(sizes.begin() + d);
  return reshape(x, sizes);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  const int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape sizes = x.shape();
  sizes.insert(sizes.begin() + d, 1);
  return reshape(x, sizes);
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  const int64_t s = wrap_dim(start_dim, x.dim(), "flatten");
  const int64_t e = wrap_dim(end_dim, x.dim(), "flatten");
  if (x.dim() == 0) return reshape(x, {1});
  MG_CHECK(s <= e, "flatten", "start_dim ", start_dim, " comes after end_dim ", end_dim);
  Shape sizes(x.shape().begin(), x.shape().begin() + s);
  int64_t n = 1;
  for (int64_t i = s; i <= e; ++i) n *= x.shape()[i];
  sizes.push_back(n);
  sizes.insert(sizes.end(), x.shape().begin() + e + 1, x.shape().end());
  return reshape(x, sizes);
}

Tensor unflatten(const Tensor& x, int64_t dim, const Shape& sizes) {
  MG_CHECK(x.dim() > 0, "unflatten", "cannot unflatten a 0-dim tensor");
  MG_CHECK(!sizes.empty(), "unflatten", "sizes must be non-empty");
  const int64_t d = wrap_dim(dim, x.dim(), "unflatten");
  const Shape inner = infer_size(sizes, x.shape()[d], "unflatten");
  Shape out(x.shape().begin(), x.shape().begin() + d);
  out.insert(out.end(), inner.begin(), inner.end());
  out.insert(out.end(), x.shape().begin() + d + 1, x.shape().end());
  return view(x, out);
}

Tensor diagonal(const Tensor& x, int64_t offset, int64_t dim1, int64_t dim2) {
  MG_CHECK(x.dim() >= 2, "diagonal", "expects a tensor with >= 2 dims, got shape ", x.shape());
  const int64_t d1 = wrap_dim(dim1, x.dim(), "diagonal");
  const int64_t d2 = wrap_dim(dim2, x.dim(), "diagonal");
  MG_CHECK(d1 != d2, "diagonal", "dim1 and dim2 are the same dim ", d1, " (shape ", x.shape(), ")");
  // The diagonal starts at (0, offset) above the main one and at (-offset, 0) below it.
  // Written so that no offset (INT64_MIN included) overflows: size + offset and size - offset
  // stay in range for sizes >= 0, and row0/col0 are only formed once the diagonal is non-empty.
  const int64_t rows = x.shape()[d1], cols = x.shape()[d2];
  const int64_t len = std::max<int64_t>(
      0, offset >= 0 ? std::min(rows, cols - offset) : std::min(rows + offset, cols));
  const int64_t row0 = len > 0 && offset < 0 ? -offset : 0, col0 = offset > 0 ? offset : 0;
  const int64_t start = len == 0
                            ? x.storage_offset()
                            : x.storage_offset() + row0 * x.strides()[d1] + col0 * x.strides()[d2];
  Shape sizes, strides;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i == d1 || i == d2) continue;
    sizes.push_back(x.shape()[i]);
    strides.push_back(x.strides()[i]);
  }
  sizes.push_back(len);
  strides.push_back(x.strides()[d1] + x.strides()[d2]);
  Tensor out = make_view(x, sizes, strides, start);
  record("diagonal", out, {x}, [offset, d1, d2](const Tensor& g, InputGrads in) {
    Tensor region = diagonal(in[0].buffer(), offset, d1, d2);
    region.add_(g);
  });
  return out;
}

Tensor as_strided(const Tensor& x, const Shape& sizes, const Shape& strides,
                  std::optional<int64_t> storage_offset) {
  MG_CHECK(!should_record({x}), "as_strided",
           "is not differentiable; call it on a detached "
           "tensor or under NoGradGuard");
  return strided::as_strided(x, sizes, strides, storage_offset);
}

}  // namespace mixgrad
