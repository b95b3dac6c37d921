#pragma once
// Gradient hooks (Tensor::register_hook): functions that see, and may replace, the gradient
// flowing into one tensor during backward. A leaf keeps its hooks in its AutogradMeta; a
// non-leaf's hooks live on the Node that produced it, keyed by output index, so they stay with
// that value in the graph (also after the handle is dropped or the tensor is overwritten in
// place) and are freed with the graph.
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace mixgrad {

struct TensorMeta;

// The hooks of one tensor, in registration order.
class GradHooks {
 public:
  HookId add(GradHook hook);
  // Whether a hook with this id was found (and removed).
  bool remove(HookId id);
  bool empty() const { return hooks_.empty(); }
  void clear() { hooks_.clear(); }
  // Passes `grad` (the gradient of a tensor described by `meta`) through every hook in turn: a
  // hook returning an undefined tensor keeps the gradient, a defined one replaces it. Throws
  // Error if a replacement differs from the tensor in shape, dtype or device.
  Tensor run(Tensor grad, const TensorMeta& meta) const;

 private:
  std::vector<std::pair<HookId, GradHook>> hooks_;
};

}  // namespace mixgrad
