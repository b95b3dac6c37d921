#pragma once
// Views that only compute a new layout (sizes, strides, offset) over the same storage and record
// nothing for autograd: how kernels and backend code take another look at a tensor's memory
// (a chunk of a batch, a group's rows, a broadcast bias) without reaching up into ops/. The
// public, differentiable view ops (ops/view.h: mg::narrow, mg::expand, ...) build on these and
// add the recording; these live in their own namespace so that the two cannot be mixed up.
//
//   using namespace mixgrad;
//   Tensor rows = strided::narrow(matrix, 0, begin, n);        // no autograd link, ever
//   Tensor b = strided::expand(strided::view(bias, {1, o, 1, 1}), out.shape());
//
// Every result shares t's storage (Tensor::is_view), has no autograd link and checks its
// arguments, throwing Error named after the view ("narrow", "expand", ...).
#include <cstdint>
#include <optional>

#include "core/shape.h"
#include "core/tensor.h"

namespace mixgrad::strided {

// `t`'s storage seen with the given layout, from storage_offset (default: t's offset); the
// layout must stay inside the storage.
Tensor as_strided(const Tensor& t, const Shape& sizes, const Shape& strides,
                  std::optional<int64_t> storage_offset = std::nullopt);
// The `length` positions from `start` (negative: from the end) along `dim`.
Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length);
// narrow's checks, shared with the recording mg::narrow: the wrapped dim and the start from the
// front (Error when the range leaves the dim or t is 0-dim).
struct NarrowRange {
  int64_t dim = 0;
  int64_t start = 0;
};
NarrowRange checked_narrow_range(const Tensor& t, int64_t dim, int64_t start, int64_t length);
// Broadcast to `shape`: new leading dims and size-1 dims get stride 0 (-1 keeps a size).
// Returns t itself when the shape does not change.
Tensor expand(const Tensor& t, const Shape& shape);
// dims dim0 and dim1 swapped (their sizes and strides).
Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1);
// A size-1 dim inserted at `dim` (in [-dim() - 1, dim()]).
Tensor unsqueeze(const Tensor& t, int64_t dim);
// The same elements in row-major order as `shape` (one entry may be -1), without a copy: t's
// strides must allow it (always so for a contiguous t).
Tensor view(const Tensor& t, const Shape& shape);

}  // namespace mixgrad::strided
