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

// What the checks shared by every in-place op need to know about the op.
struct InplaceOp {
  const char* name;
  // The dtype the out-of-place op computes its result in. Writing it into self must be a cast
  // that loses no kind of information (can_cast), as in PyTorch: int64.add_(float tensor) would
  // otherwise truncate silently.
  DType result_dtype;
};

template <class WriteInPlace, class OutOfPlace>
Tensor& apply_inplace(Tensor& self, const InplaceOp& spec, std::initializer_list<Tensor> others,
                      WriteInPlace&& write, OutOfPlace&& out_of_place) {
  const char* op = spec.name;
  MG_CHECK(can_cast(spec.result_dtype, self.dtype()), op, "result type ", spec.result_dtype,
           " can't be cast to the desired output type ", self.dtype(), " of the tensor (shape ",
           self.shape(), ") written in place; use the out-of-place op");
  // Threads would race on elements that several positions share (an expanded tensor).
  for (int64_t d = 0; d < self.dim(); ++d)
    MG_CHECK(self.strides()[d] != 0 || self.shape()[d] <= 1, op,
             "cannot write in place into a tensor whose elements overlap (shape ", self.shape(),
             ", strides ", self.strides(), "); call contiguous() first");
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
  // Other tensors over the same memory (views, saved or detached aliases) would see the new
  // values under their old history: a silently wrong gradient. Only a sole owner is rewritten.
  MG_CHECK(self.storage().use_count() == 1, op, "in-place modification of a tensor (shape ",
           self.shape(),
           ") that shares storage with other tensors (views, or values saved for "
           "backward) while gradients are recorded is not supported; use the out-of-place op");
  MG_CHECK(self.is_floating_point(), op, "cannot write a result that carries a gradient into a ",
           self.dtype(), " tensor; convert it with to() first");
  const Tensor current = clone(self);
  Tensor result = out_of_place(current);
  MG_CHECK(result.shape() == self.shape(), op, "result of shape ", result.shape(),
           " cannot be written into a tensor of shape ", self.shape());
  kernels::copy(self.device(), self, result);
  self.storage()->bump_version();
  AutogradMeta& meta = self.impl().autograd_meta();
  if (meta.retains_grad && meta.grad_fn) {  // the old node must not report into self any more
    auto& retained = meta.grad_fn->retained_outputs();
    if (meta.output_nr < retained.size()) retained[meta.output_nr].reset();
  }
  meta.requires_grad = true;
  meta.grad_fn = result.grad_fn();
  meta.output_nr = result.output_nr();
  if (meta.retains_grad) self.retain_grad();
  return self;
}

}  // namespace mixgrad
