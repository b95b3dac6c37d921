#pragma once
// Shape arithmetic shared by every op: numel, contiguous strides, dim wrapping, broadcasting.
#include <cstdint>
#include <vector>

namespace mixgrad {

using Shape = std::vector<int64_t>;

int64_t numel_of(const Shape& shape);
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
