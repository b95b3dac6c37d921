#include "core/strided_view.h"

#include <utility>

#include "core/error.h"

namespace mixgrad::strided {

Tensor as_strided(const Tensor& t, const Shape& sizes, const Shape& strides,
                  std::optional<int64_t> storage_offset) {
  const int64_t offset = storage_offset.value_or(t.storage_offset());
  const int64_t extent = layout_extent(sizes, strides, "as_strided");
  const auto elements = static_cast<int64_t>(t.storage()->nbytes() / t.element_size());
  MG_CHECK(offset >= 0 && (extent == 0 || (offset <= elements && extent <= elements - offset)),
           "as_strided", "sizes ", sizes, " strides ", strides, " offset ", offset,
           " reach outside the storage of ", elements, " elements");
  return alias_with_layout(t, sizes, strides, offset);
}

NarrowRange checked_narrow_range(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
  MG_CHECK(t.dim() > 0, "narrow", "cannot narrow a 0-dim tensor");
  const int64_t d = wrap_dim(dim, t.dim(), "narrow");
  const int64_t size = t.shape()[d];
  if (start < 0) start += size;
  MG_CHECK(start >= 0 && length >= 0 && start <= size && length <= size - start, "narrow", "start ",
           start, " + length ", length, " exceeds dim ", d, " of size ", size, " (shape ",
           t.shape(), ")");
  return {d, start};
}

Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
  const NarrowRange r = checked_narrow_range(t, dim, start, length);
  Shape sizes = t.shape();
  sizes[r.dim] = length;
  return alias_with_layout(t, std::move(sizes), t.strides(),
                           t.storage_offset() + r.start * t.strides()[r.dim]);
}

Tensor expand(const Tensor& t, const Shape& shape) {
  // The common case (every binary op expands both operands to the broadcast shape), answered
  // before building the new sizes and strides: it is the tensor itself, as below.
  if (shape == t.shape()) return t;
  const int64_t n = static_cast<int64_t>(shape.size());
  MG_CHECK(n >= t.dim(), "expand", "target shape ", shape, " has fewer dims than the tensor's ",
           t.shape());
  Shape sizes(n), strides(n);
  const int64_t lead = n - t.dim();
  for (int64_t i = 0; i < n; ++i) {
    if (i < lead) {
      MG_CHECK(shape[i] >= 0, "expand", "cannot use -1 for a new leading dim in ", shape);
      sizes[i] = shape[i];
      strides[i] = 0;
      continue;
    }
    const int64_t have = t.shape()[i - lead];
    MG_CHECK(shape[i] >= -1, "expand", "invalid size ", shape[i], " in target shape ", shape);
    const int64_t want = shape[i] == -1 ? have : shape[i];
    MG_CHECK(have == want || have == 1, "expand", "cannot expand shape ", t.shape(), " to ", shape,
             " (dim ", i, ": ", have, " vs ", want, ")");
    sizes[i] = want;
    strides[i] = have == want ? t.strides()[i - lead] : 0;
  }
  if (sizes == t.shape()) return t;
  checked_numel(sizes, "expand");
  return alias_with_layout(t, std::move(sizes), std::move(strides), t.storage_offset());
}

Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1) {
  const int64_t d0 = wrap_dim(dim0, t.dim(), "transpose"),
                d1 = wrap_dim(dim1, t.dim(), "transpose");
  Shape sizes = t.shape(), strides = t.strides();
  if (t.dim() > 0) {
    std::swap(sizes[d0], sizes[d1]);
    std::swap(strides[d0], strides[d1]);
  }
  return alias_with_layout(t, std::move(sizes), std::move(strides), t.storage_offset());
}

Tensor unsqueeze(const Tensor& t, int64_t dim) {
  const int64_t d = wrap_dim(dim, t.dim() + 1, "unsqueeze");
  Shape sizes = t.shape();
  sizes.insert(sizes.begin() + d, 1);
  return view(t, sizes);  // always possible: a size-1 dim fits any layout
}

Tensor view(const Tensor& t, const Shape& shape) {
  const Shape sizes = infer_size(shape, t.numel(), "view");
  bool ok = false;
  Shape strides = view_strides(t.shape(), t.strides(), sizes, ok);
  MG_CHECK(ok, "view", "cannot view a tensor of shape ", t.shape(), " and strides ", t.strides(),
           " as shape ", sizes, "; use reshape() (which copies) instead");
  return alias_with_layout(t, sizes, std::move(strides), t.storage_offset());
}

}  // namespace mixgrad::strided
