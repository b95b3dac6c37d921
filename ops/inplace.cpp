#include "ops/inplace.h"

#include <numeric>

namespace mixgrad::detail {

namespace {

// Bytes [begin, end) from the first to past the last element of t (strides are never negative).
struct Extent {
  std::uintptr_t begin, end;
};
Extent extent(const Tensor& t) {
  int64_t last = 0;
  for (int64_t d = 0; d < t.dim(); ++d) last += (t.shape()[d] - 1) * t.strides()[d];
  const auto begin = reinterpret_cast<std::uintptr_t>(t.data_ptr());
  return {begin, begin + static_cast<std::uintptr_t>(last + 1) * t.element_size()};
}

// Same shape, and the same strides where they matter (dims of size 1 place nothing).
bool same_layout(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  for (int64_t d = 0; d < a.dim(); ++d)
    if (a.shape()[d] > 1 && a.strides()[d] != b.strides()[d]) return false;
  return true;
}

int64_t stride_gcd(int64_t g, const Tensor& t) {
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.shape()[d] > 1) g = std::gcd(g, t.strides()[d]);
  return g;
}

}  // namespace

MemOverlap memory_overlap_slow(const Tensor& out, const Tensor& in) {
  if (out.numel() == 0 || in.numel() == 0) return MemOverlap::None;
  const Extent a = extent(out), b = extent(in);
  if (a.begin >= b.end || b.begin >= a.end) return MemOverlap::None;  // disjoint narrows
  const std::uintptr_t size = out.element_size();
  // Bytes read as another dtype have no element-wise correspondence to reason about.
  if (in.element_size() != size) return MemOverlap::Partial;
  if (a.begin == b.begin && same_layout(out, in)) return MemOverlap::Full;
  // Every element lies at begin + sum(k_d * stride_d) elements, so two elements can only coincide
  // when the distance between the first elements is a multiple of the strides' gcd: x[::2] and
  // x[1::2], or two columns of a matrix, never do.
  const std::uintptr_t distance = a.begin > b.begin ? a.begin - b.begin : b.begin - a.begin;
  if (distance % size != 0) return MemOverlap::Partial;  // misaligned borrowed buffers
  const int64_t g = stride_gcd(stride_gcd(0, out), in);
  if (g > 1 && (distance / size) % static_cast<std::uintptr_t>(g) != 0) return MemOverlap::None;
  return MemOverlap::Partial;
}

void write_result(Tensor& self, const char* op, const Tensor& result) {
  MG_CHECK(result.shape() == self.shape(), op, "result of shape ", result.shape(),
           " cannot be written into a tensor of shape ", self.shape());
  kernels::copy(self.device(), self, result);
}

}  // namespace mixgrad::detail
