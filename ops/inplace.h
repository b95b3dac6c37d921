#pragma once
// The one mechanism behind every in-place op (add_, mul_, masked_fill_, copy_, ...).
//
// Without autograd involvement the kernel writes straight into `self`. When a gradient must flow
// through the op, the out-of-place form is computed on `current`, a recorded copy of self (so a
// backward that saves its input keeps the old values, not the overwritten ones); the result is
// copied into self and self takes over its history. Either way the storage version is bumped,
// so a tensor saved elsewhere and then overwritten is caught at backward time.
#include <initializer_list>

#include "autograd/autograd_meta.h"
#include "autograd/function.h"
#include "backends/kernels.h"
#include "ops/copy.h"

namespace mixgrad {

template <class WriteInPlace, class OutOfPlace>
Tensor& apply_inplace(Tensor& self, const char* op, std::initializer_list<Tensor> others,
                      WriteInPlace&& write, OutOfPlace&& out_of_place) {
  std::vector<Tensor> inputs{self};
  inputs.insert(inputs.end(), others.begin(), others.end());
  if (!should_record(inputs)) {
    write();
    self.storage()->bump_version();
    return self;
  }
  MG_CHECK(!(self.is_leaf() && self.requires_grad()), op,
           "a leaf tensor that requires grad cannot be modified in place (shape ", self.shape(),
           "); modify it under NoGradGuard or use the out-of-place op");
  // A view whose storage nobody else holds (e.g. an op's reshaped result) is safe to rewrite;
  // otherwise other tensors would see new values under their old history.
  MG_CHECK(!self.is_view() || self.storage().use_count() == 1, op,
           "in-place modification of a view (shape ", self.shape(),
           ") that shares storage with other tensors while gradients are recorded is not "
           "supported; use the out-of-place op");
  const Tensor current = clone(self);
  Tensor result = out_of_place(current);
  MG_CHECK(result.shape() == self.shape(), op, "result of shape ", result.shape(),
           " cannot be written into a tensor of shape ", self.shape());
  kernels::copy(self.device(), self, result);
  self.storage()->bump_version();
  AutogradMeta& meta = self.impl().autograd_meta();
  meta.requires_grad = true;
  meta.grad_fn = result.grad_fn();
  meta.output_nr = result.output_nr();
  return self;
}

}  // namespace mixgrad
