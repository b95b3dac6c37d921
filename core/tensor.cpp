#include "core/tensor.h"

#include <ostream>

#include "core/allocator.h"

namespace mixgrad {

TensorImpl& Tensor::impl() const {
  if (!impl_) throw Error("Tensor", "operation on an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t dim) const {
  if (this->dim() == 0) throw Error("size", "a 0-dim tensor has no dims");
  return sizes()[wrap_dim(dim, this->dim(), "size")];
}

int64_t Tensor::stride(int64_t dim) const {
  if (this->dim() == 0) throw Error("stride", "a 0-dim tensor has no dims");
  return strides()[wrap_dim(dim, this->dim(), "stride")];
}

void* Tensor::data_ptr() const {
  return static_cast<char*>(storage()->data()) + storage_offset() * element_size();
}

void Tensor::check_dtype_access(DType requested, const char* what) const {
  MG_CHECK(dtype() == requested, what, "tensor has dtype ", dtype(), " but ", requested,
           " was requested");
  MG_CHECK(device().is_cpu(), what, "tensor is on ", device(),
           "; copy it to the CPU first with to(Device::cpu())");
}

Scalar Tensor::item_scalar() const {
  MG_CHECK(numel() == 1, "item", "expected a tensor with one element, got shape ", shape());
  // 16-bit floats are widened on their device: the CPU stores them but does not compute on them.
  const bool half = dtype() == DType::Float16 || dtype() == DType::BFloat16;
  Tensor c = device().is_cpu() ? *this : (half ? to(kFloat32) : *this).to(Device::cpu());
  const void* p = c.data_ptr();
  switch (c.dtype()) {
    case DType::Float32:
      return Scalar(*static_cast<const float*>(p));
    case DType::Float64:
      return Scalar(*static_cast<const double*>(p));
    case DType::Int64:
      return Scalar(*static_cast<const int64_t*>(p));
    case DType::Int32:
      return Scalar(*static_cast<const int32_t*>(p));
    case DType::Bool:
      return Scalar(*static_cast<const bool*>(p));
    default:
      break;
  }
  throw Error("item", std::string("unsupported dtype ") + dtype_name(c.dtype()));
}

Tensor alias_with_layout(const Tensor& t, Shape sizes, Shape strides, int64_t storage_offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage();
  impl->sizes = std::move(sizes);
  impl->strides = std::move(strides);
  impl->offset = storage_offset;
  impl->dtype = t.dtype();
  impl->is_view = true;
  return Tensor(std::move(impl));
}

Tensor Tensor::detach() const {
  return alias_with_layout(*this, sizes(), strides(), storage_offset());
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined tensor";
  return std::string(dtype_name(t.dtype())) + detail::to_str(t.shape()) + " on " +
         describe(t.device());
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  return os << t.to_string();
}

}  // namespace mixgrad
