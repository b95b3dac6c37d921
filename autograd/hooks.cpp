#include "autograd/hooks.h"

#include <algorithm>
#include <atomic>

#include "autograd/node.h"

namespace mixgrad {

namespace {
// Ids are unique across all tensors, so a stale id can never remove someone else's hook.
std::atomic<HookId> next_hook_id{1};
}  // namespace

HookId GradHooks::add(GradHook hook) {
  const HookId id = next_hook_id.fetch_add(1, std::memory_order_relaxed);
  hooks_.emplace_back(id, std::move(hook));
  return id;
}

bool GradHooks::remove(HookId id) {
  auto it =
      std::find_if(hooks_.begin(), hooks_.end(), [id](const auto& h) { return h.first == id; });
  if (it == hooks_.end()) return false;
  hooks_.erase(it);
  return true;
}

Tensor GradHooks::run(Tensor grad, const TensorMeta& meta) const {
  // A copy, so that a hook may register or remove hooks (itself included) while they run.
  const auto hooks = hooks_;
  for (const auto& [id, hook] : hooks) {
    Tensor replacement = hook(grad);
    if (!replacement.defined()) continue;
    MG_CHECK(replacement.shape() == meta.shape, "backward",
             "a hook registered on a tensor of shape ", meta.shape,
             " returned a gradient of shape ", replacement.shape());
    MG_CHECK(replacement.dtype() == meta.dtype, "backward", "a hook registered on a ", meta.dtype,
             " tensor of shape ", meta.shape, " returned a ", replacement.dtype(), " gradient");
    MG_CHECK(replacement.device() == meta.device, "backward", "a hook registered on a tensor on ",
             describe(meta.device), " returned a gradient on ", describe(replacement.device()));
    grad = std::move(replacement);
  }
  return grad;
}

}  // namespace mixgrad
