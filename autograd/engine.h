#pragma once
// Reverse-mode execution of the recorded graph.
#include <cstdint>
#include <functional>
#include <vector>

#include "core/tensor.h"

namespace mixgrad::autograd {

// Backpropagates from `outputs` (seeded with `grad_outputs`; an undefined entry means ones for a
// one-element output) and accumulates into the .grad() of every reachable leaf.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              bool retain_graph = false);

// Returns d(outputs)/d(inputs) weighted by `grad_outputs`, without touching any .grad().
// An input the outputs do not depend on gets an undefined tensor, or an error unless
// `allow_unused`.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         bool allow_unused = false);

// Runs `fn` once the backward pass (backward or grad) that is running now has run every node,
// before it returns; callbacks run in the order queued, with grad mode off, and may queue more.
// For work that must follow the whole pass, such as waiting for gradient reductions started
// from hooks (PyTorch's engine queue_callback). Throws Error when no backward pass is running
// on this thread.
void queue_callback(std::function<void()> fn);

// The backward pass running on this thread: a number that differs for every pass (0 when none
// runs), and whether it accumulates into .grad() (backward) or not (grad). Hooks that act on
// .grad(), such as gradient synchronisation, use them to tell passes apart.
struct PassInfo {
  uint64_t id = 0;
  bool accumulates = false;
};
PassInfo current_pass();

}  // namespace mixgrad::autograd
