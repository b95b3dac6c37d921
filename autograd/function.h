#pragma once
// The one way an op (built in or a user's own) joins the graph:
//
//   Tensor out = ...forward...;
//   record("mul", out, {a, b}, [sa = save(a), sb = save(b)](const Tensor& g, InputGrads in) {
//     if (in[0].needed()) in[0].add(g * sb.get());
//     if (in[1].needed()) in[1].add(g * sa.get());
//   });
//
// Forward and backward sit side by side. The lambda runs with grad mode off. Capture tensors
// through save(): it keeps no autograd links (so no reference cycles through the graph) and
// get() throws if the tensor was modified in place after it was saved.
#include <functional>
#include <initializer_list>
#include <vector>

#include "autograd/node.h"
#include "core/grad_mode.h"

namespace mixgrad {

class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  // The saved value; throws Error if its storage was modified in place since it was saved.
  const Tensor& get() const;
  bool defined() const { return tensor_.defined(); }

 private:
  Tensor tensor_;
  uint64_t version_ = 0;
};

inline SavedTensor save(const Tensor& t) {
  return SavedTensor(t);
}

// Gradients of all forward outputs (undefined entries: no gradient reached that output).
using MultiBackwardFn = std::function<void(const std::vector<Tensor>& grads, InputGrads inputs)>;
// Gradient of the single forward output (the node is skipped when it is undefined).
using BackwardFn = std::function<void(const Tensor& grad, InputGrads inputs)>;

// True when grad mode is on and some input requires grad: only then is recording worth doing.
bool should_record(std::initializer_list<Tensor> inputs);
bool should_record(const std::vector<Tensor>& inputs);

// Attaches a backward node named `name` to `outputs`. Does nothing when !should_record(inputs).
// Non-floating outputs never require grad. Inputs may be undefined (optional arguments).
void record(const char* name, std::vector<Tensor> outputs, const std::vector<Tensor>& inputs,
            MultiBackwardFn backward);
void record(const char* name, const Tensor& output, const std::vector<Tensor>& inputs,
            BackwardFn backward);

}  // namespace mixgrad
