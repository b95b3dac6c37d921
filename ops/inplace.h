#pragma once
// The one mechanism behind every in-place op (add_, mul_, masked_fill_, copy_, ...).
//
// Without autograd involvement the kernel writes straight into `self`. When a gradient must flow
// through the op, the out-of-place form is computed on `current`, a recorded copy of self (so a
// backward that saves its input keeps the old values, not the overwritten ones); the result is
// copied into self and self takes over its history. Either way the storage version is bumped,
// so a tensor saved elsewhere and then overwritten is caught at backward time.
//
// Memory shared between self and an operand (PyTorch's MemoryOverlap rules): self must not have
// internal overlap (an expanded tensor: Error, as in PyTorch). An operand over the same memory
// as self is read in place only when the op is element-wise and the operand is exactly self's
// elements in self's order (x.add_(x)): each element is read before it is written. Any other
// sharing (x.narrow(0, 1, 4).add_(x.narrow(0, 0, 4)), x.add_(x.t()), x.add_(x[0]),
// x.index_add_(0, i, x)) would read elements already overwritten, so the op is computed out of
// place into a temporary that is then copied into self. PyTorch does that for copy_ and raises
// for the other ops; a right answer costs one temporary, and only in these rare cases. The
// recording path below always computes through a temporary, so this concerns the other one.
#include <cstdint>
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
  // Whether element i of self is computed from element i of each (broadcast) operand only. Then
  // an operand that is exactly self is read in place; otherwise (scatter, index_add, or unset)
  // any shared memory is computed through a temporary, which is always correct.
  bool elementwise = false;
};

namespace detail {

// How the memory written through `out` meets the memory read through `in`: not at all, as the
// same elements in the same order, or otherwise (also where that cannot be ruled out cheaply).
enum class MemOverlap { None, Full, Partial };
MemOverlap memory_overlap_slow(const Tensor& out, const Tensor& in);

// Hot in optimizer steps, so the common case (different buffers) costs one pointer comparison
// and two range comparisons.
inline MemOverlap memory_overlap(const Tensor& out, const Tensor& in) {
  if (!in.defined()) return MemOverlap::None;
  const Storage& a = *out.storage();
  const Storage& b = *in.storage();
  if (&a != &b) {
    // Distinct storages share memory only when borrowed (from_blob) over one buffer.
    const auto pa = reinterpret_cast<std::uintptr_t>(a.data());
    const auto pb = reinterpret_cast<std::uintptr_t>(b.data());
    if (pa >= pb + b.nbytes() || pb >= pa + a.nbytes() || !(a.device() == b.device()))
      return MemOverlap::None;
  }
  return memory_overlap_slow(out, in);
}

// Whether writing self in place could change an element of an operand before the op reads it.
inline bool needs_temporary(const Tensor& self, bool elementwise,
                            std::initializer_list<Tensor> operands) {
  for (const Tensor& in : operands) {
    const MemOverlap o = memory_overlap(self, in);
    if (o == MemOverlap::Partial || (o == MemOverlap::Full && !elementwise)) return true;
  }
  return false;
}

// Copies an op's out-of-place result into self (which must have its shape).
void write_result(Tensor& self, const char* op, const Tensor& result);

}  // namespace detail

template <class WriteInPlace, class OutOfPlace>
Tensor& apply_inplace(Tensor& self, const InplaceOp& spec, std::initializer_list<Tensor> others,
                      WriteInPlace&& write, OutOfPlace&& out_of_place) {
  const char* op = spec.name;
  MG_CHECK(can_cast(spec.result_dtype, self.dtype()), op, "result type ", spec.result_dtype,
           " can't be cast to the desired output type ", self.dtype(), " of the tensor (shape ",
           self.shape(), ") written in place; use the out-of-place op");
  // Several positions share an element of an expanded tensor: which write wins is undefined,
  // and threads would race on it.
  for (int64_t d = 0; d < self.dim(); ++d)
    MG_CHECK(self.strides()[d] != 0 || self.shape()[d] <= 1, op,
             "unsupported operation: more than one element of the written-to tensor (shape ",
             self.shape(), ", strides ", self.strides(),
             ") refers to a single memory location (its elements overlap); clone() it first");
  std::vector<Tensor> inputs{self};
  inputs.insert(inputs.end(), others.begin(), others.end());
  if (!should_record(inputs)) {
    if (detail::needs_temporary(self, spec.elementwise, others)) {
      NoGradGuard no_grad;  // only the values are wanted; nothing is recorded on this path
      detail::write_result(self, op, out_of_place(self));
    } else {
      write();
    }
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
  detail::write_result(self, op, result);
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
