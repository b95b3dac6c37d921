#pragma once
// Shape arithmetic shared by every op: numel, contiguous strides, dim wrapping, broadcasting.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mixgrad {

using Shape = std::vector<int64_t>;

// Element count of a shape already known to be valid (a tensor's own shape); unchecked.
int64_t numel_of(const Shape& shape);
// The one checked place for shape arithmetic. checked_numel: every size >= 0 and the product of
// the sizes, zeros counted as 1 (so the contiguous strides fit as well), within int64; returns
// the element count or throws Error naming `op` and the shape. Every path that makes a shape
// from user input or a file (creation, views, readers) goes through it.
int64_t checked_numel(const Shape& shape, const char* op);
// a * b and a + b, or Error naming `op` and `what` when the result leaves int64.
int64_t checked_mul(int64_t a, int64_t b, const char* op, const char* what);
int64_t checked_add(int64_t a, int64_t b, const char* op, const char* what);
// Bytes of `elements` items of `itemsize` bytes, or Error when above kMaxTensorBytes (which
// leaves every allocator room to round a request up without wrapping).
// Elements a (shape, strides) layout spans from its first element: 1 + sum((size - 1) * stride),
// 0 when empty; checked like checked_numel, and strides must be >= 0.
int64_t layout_extent(const Shape& shape, const Shape& strides, const char* op);
inline constexpr std::size_t kMaxTensorBytes = std::size_t{1} << 60;
std::size_t checked_nbytes(int64_t elements, std::size_t itemsize, const char* op);
Shape contiguous_strides(const Shape& shape);
// Maps a possibly negative dim into [0, ndim); throws Error naming `op` when out of range.
// A 0-dim tensor accepts dims 0 and -1, as in PyTorch.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);
// NumPy broadcasting of two shapes; throws Error naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Strides that read a tensor of (shape, strides) as `target` (broadcast dims get stride 0).
Shape broadcast_strides(const Shape& shape, const Shape& strides, const Shape& target);
// Whether (shape, strides) lays elements out densely in row-major order.
bool is_contiguous_layout(const Shape& shape, const Shape& strides);
// Strides for viewing (shape, strides) as `new_shape` without a copy; empty when impossible.
std::vector<int64_t> view_strides(const Shape& shape, const Shape& strides, const Shape& new_shape,
                                  bool& ok);
// Resolves a single -1 entry in `shape` so the product is `numel`.
Shape infer_size(const Shape& shape, int64_t numel, const char* op);

}  // namespace mixgrad
