#pragma once
// Per-tensor autograd state, allocated only for tensors that take part in autograd.
#include <memory>

#include "autograd/node.h"

namespace mixgrad {

struct AutogradMeta {
  bool requires_grad = false;
  bool retains_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  uint32_t output_nr = 0;
  std::weak_ptr<Node> grad_accumulator;  // AccumulateGrad of a leaf, shared by all its uses
  GradHooks hooks;                       // a leaf's gradient hooks
  // Nodes holding hooks registered through this tensor while it was a non-leaf (an in-place op
  // moves the tensor to a new node; remove_hook must still find the old one).
  std::vector<std::weak_ptr<Node>> hooked_nodes;
};

// The edge through which a gradient for `t` flows, or an empty edge if `t` needs none.
Edge gradient_edge(const Tensor& t);

}  // namespace mixgrad
