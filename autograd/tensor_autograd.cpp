// Tensor's autograd methods (declared in core/tensor.h under "autograd"): they are defined here,
// beside the engine and the graph they read, so that core includes nothing of autograd's (as
// ops/tensor_methods.cpp does for the methods that are ops).
#include <string>

#include "autograd/autograd_meta.h"
#include "autograd/engine.h"
#include "autograd/node.h"
#include "core/tensor.h"

namespace mixgrad {

// TensorImpl owns its AutogradMeta through a unique_ptr, so it is made and destroyed where
// AutogradMeta is a complete type.
TensorImpl::TensorImpl() = default;
TensorImpl::~TensorImpl() = default;

AutogradMeta& TensorImpl::autograd_meta() {
  if (!autograd) autograd = std::make_unique<AutogradMeta>();
  return *autograd;
}

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

std::string Tensor::grad_fn_name() const {
  const std::shared_ptr<Node>& fn = grad_fn();
  return fn ? fn->name() : std::string();
}

}  // namespace mixgrad
