#include "autograd/node.h"

#include "autograd/autograd_meta.h"
#include "ops/creation.h"
#include "ops/reduce.h"

namespace mixgrad {

namespace {
// Sums the broadcast dims of `g` away so it has `shape` (gradient of an implicit expand).
Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int64_t lead = g.dim() - static_cast<int64_t>(shape.size());
  MG_CHECK(lead >= 0, "backward", "gradient of shape ", g.shape(), " cannot be reduced to ", shape);
  Shape dims;
  for (int64_t i = 0; i < g.dim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g.size(i) != 1)) dims.push_back(i);
  Tensor r = dims.empty() ? g : sum(g, dims, /*keepdim=*/true);
  return r.view(shape);
}
}  // namespace

Node::~Node() {
  // Tear the graph down iteratively: a chain of a million ops would otherwise recurse once per
  // node through the shared_ptr destructors and overflow the stack.
  std::vector<std::shared_ptr<Node>> pending;
  for (Edge& e : next_edges_)
    if (e.node) pending.push_back(std::move(e.node));
  while (!pending.empty()) {
    std::shared_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    if (n.use_count() == 1)
      for (Edge& e : n->next_edges_)
        if (e.node) pending.push_back(std::move(e.node));
  }
}

void Node::release() {
  released_ = true;
  // The hooks of this node's outputs can never run again; dropping them also breaks the cycle of
  // a hook that captured its own tensor (tensor -> grad_fn -> hook -> tensor).
  output_hooks_.clear();
}

HookId Node::add_output_hook(uint32_t nr, GradHook hook) {
  if (output_hooks_.size() <= nr) output_hooks_.resize(nr + 1);
  return output_hooks_[nr].add(std::move(hook));
}

bool Node::remove_output_hook(HookId id) {
  for (GradHooks& hooks : output_hooks_)
    if (hooks.remove(id)) return true;
  return false;
}

const GradHooks* Node::hooks_for_output(uint32_t nr) const {
  if (nr >= output_hooks_.size() || output_hooks_[nr].empty()) return nullptr;
  return &output_hooks_[nr];
}

void GradSink::add(const Tensor& g_in) {
  if (!needed() || !g_in.defined()) return;
  Tensor g = sum_to_shape(g_in, meta_->shape);
  if (g.dtype() != meta_->dtype) g = g.to(meta_->dtype);
  if (!buffer_->defined()) {
    *buffer_ = g;
    *owned_ = 0;  // may alias a tensor someone else holds: copy before writing into it
  } else if (*owned_) {
    buffer_->add_(g);
  } else {
    *buffer_ = *buffer_ + g;
    *owned_ = 1;
  }
}

Tensor& GradSink::buffer() {
  MG_CHECK(needed(), "backward", "gradient buffer requested for an input that needs none");
  if (!buffer_->defined()) {
    *buffer_ = zeros(meta_->shape, TensorOptions(meta_->dtype).device(meta_->device));
    *owned_ = 1;
  } else if (!*owned_ || !buffer_->is_contiguous()) {
    *buffer_ = buffer_->clone();
    *owned_ = 1;
  }
  return *buffer_;
}

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> leaf)
    : Node("AccumulateGrad", {}, {TensorMeta::of(Tensor(leaf))}), leaf_(std::move(leaf)) {}

void AccumulateGrad::apply(const std::vector<Tensor>& grad_outputs, InputGrads) {
  if (grad_outputs[0].defined()) accumulate(grad_outputs[0], false);
}

void AccumulateGrad::accumulate(Tensor grad, bool owned) {
  Tensor leaf(leaf_);
  Tensor old = leaf.grad();
  if (!old.defined()) {
    // A buffer nobody else holds is adopted as is: no copy per parameter per step.
    const bool sole_owner = grad.impl_ptr().use_count() == 1 && grad.storage().use_count() == 1;
    leaf.set_grad((owned || sole_owner) && grad.is_contiguous() ? grad : grad.clone());
  } else {
    old.add_(grad);
  }
}

const GradHooks* AccumulateGrad::hooks_for_output(uint32_t) const {
  const auto& meta = leaf_->autograd;
  return meta && !meta->hooks.empty() ? &meta->hooks : nullptr;
}

Edge gradient_edge(const Tensor& t) {
  if (!t.requires_grad()) return {};
  AutogradMeta& m = t.impl().autograd_meta();
  if (m.grad_fn) return {m.grad_fn, m.output_nr};
  std::shared_ptr<Node> acc = m.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    m.grad_accumulator = acc;
  }
  return {acc, 0};
}

}  // namespace mixgrad
