#include "core/factory.h"

#include <utility>

#include "core/error.h"
#include "core/storage.h"

namespace mixgrad {

Tensor empty_strided(const Shape& shape, const Shape& strides, TensorOptions options) {
  const int64_t extent = layout_extent(shape, strides, "empty_strided");
  const DType dtype = options.dtype_or(default_dtype());
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(checked_nbytes(extent, dtype_size(dtype), "empty"),
                                            options.device_);
  impl->sizes = shape;
  impl->strides = strides;
  impl->dtype = dtype;
  Tensor t(std::move(impl));
  if (options.requires_grad_) t.requires_grad_(true);
  return t;
}

Tensor empty(const Shape& shape, TensorOptions options) {
  checked_numel(shape, "empty");  // before the strides: they are products of the sizes
  return empty_strided(shape, contiguous_strides(shape), options);
}

Tensor empty_like(const Tensor& t, std::optional<DType> dtype) {
  return empty(t.shape(), TensorOptions(dtype.value_or(t.dtype())).device(t.device()));
}

Tensor from_blob(void* data, const Shape& shape, DType dtype, std::function<void(void*)> deleter,
                 std::optional<Shape> strides, Device device) {
  Shape st = strides.value_or(contiguous_strides(shape));
  const int64_t extent = layout_extent(shape, st, "from_blob");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(
      data, checked_nbytes(extent, dtype_size(dtype), "from_blob"), device, std::move(deleter));
  impl->sizes = shape;
  impl->strides = st;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

}  // namespace mixgrad
