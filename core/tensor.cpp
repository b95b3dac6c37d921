#include "core/tensor.h"

#include <ostream>

#include "autograd/autograd_meta.h"
#include "autograd/engine.h"
#include "core/allocator.h"

namespace mixgrad {

TensorImpl::TensorImpl() = default;
TensorImpl::~TensorImpl() = default;

AutogradMeta& TensorImpl::autograd_meta() {
  if (!autograd) autograd = std::make_unique<AutogradMeta>();
  return *autograd;
}

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

// ---- autograd ----

bool Tensor::requires_grad() const {
  const auto& m = impl().autograd;
  return m && m->requires_grad;
}

Tensor& Tensor::requires_grad_(bool value) {
  if (value) {
    MG_CHECK(is_floating_point(), "requires_grad_",
             "only floating-point tensors can require "
             "gradients, got ",
             dtype());
  }
  AutogradMeta& m = impl().autograd_meta();
  MG_CHECK(!m.grad_fn || value, "requires_grad_",
           "cannot turn off requires_grad of a non-leaf "
           "tensor; use detach()");
  m.requires_grad = value;
  return *this;
}

bool Tensor::is_leaf() const {
  const auto& m = impl().autograd;
  return !m || !m->grad_fn;
}

Tensor Tensor::grad() const {
  const auto& m = impl().autograd;
  return m ? m->grad : Tensor();
}

void Tensor::set_grad(const Tensor& g) const {
  if (g.defined()) {
    MG_CHECK(g.shape() == shape(), "set_grad", "gradient of shape ", g.shape(),
             " for a tensor of shape ", shape());
  }
  impl().autograd_meta().grad = g;
}

void Tensor::zero_grad() const {
  if (impl().autograd) impl().autograd->grad = Tensor();
}

Tensor& Tensor::retain_grad() {
  MG_CHECK(requires_grad(), "retain_grad", "tensor does not require grad");
  AutogradMeta& m = impl().autograd_meta();
  if (!m.grad_fn) return *this;  // leaves keep their gradient anyway
  m.retains_grad = true;
  auto& retained = m.grad_fn->retained_outputs();
  if (retained.size() <= m.output_nr) retained.resize(m.output_nr + 1);
  retained[m.output_nr] = impl_;
  return *this;
}

HookId Tensor::register_hook(GradHook hook) const {
  MG_CHECK(requires_grad(), "register_hook", "cannot register a hook on a tensor of shape ",
           shape(), " that does not require grad");
  MG_CHECK(hook != nullptr, "register_hook", "the hook is empty");
  AutogradMeta& m = impl().autograd_meta();
  if (!m.grad_fn) return m.hooks.add(std::move(hook));
  if (m.hooked_nodes.empty() || m.hooked_nodes.back().lock() != m.grad_fn)
    m.hooked_nodes.push_back(m.grad_fn);
  return m.grad_fn->add_output_hook(m.output_nr, std::move(hook));
}

bool Tensor::remove_hook(HookId id) const {
  const auto& m = impl().autograd;
  if (!m) return false;
  if (m->hooks.remove(id)) return true;
  for (const std::weak_ptr<Node>& node : m->hooked_nodes) {
    auto n = node.lock();
    if (n && n->remove_output_hook(id)) return true;
  }
  return false;
}

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<Node> none;
  const auto& m = impl().autograd;
  return m ? m->grad_fn : none;
}

uint32_t Tensor::output_nr() const {
  const auto& m = impl().autograd;
  return m ? m->output_nr : 0;
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  autograd::backward({*this}, {grad}, retain_graph);
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
