#include "core/shape.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ostream>

#include "core/error.h"

namespace mixgrad {

int64_t& Shape::at(size_type i) {
  MG_CHECK(i < size_, "Shape::at", "index ", i, " is out of range for ", size_, " dims");
  return data_[i];
}
const int64_t& Shape::at(size_type i) const {
  MG_CHECK(i < size_, "Shape::at", "index ", i, " is out of range for ", size_, " dims");
  return data_[i];
}

void Shape::grow_to(size_type n) {
  n = std::max<size_type>(n, kInline);
  int64_t* bigger = new int64_t[n];
  std::copy(begin(), end(), bigger);
  if (!is_inline()) delete[] data_;
  data_ = bigger;
  capacity_ = n;
}

Shape::size_type Shape::open_gap(const_iterator pos, size_type n) {
  const auto at = static_cast<size_type>(pos - data_);
  if (size_ + n > capacity_) grow_to(std::max(size_ + n, 2 * capacity_));
  std::copy_backward(data_ + at, data_ + size_, data_ + size_ + n);
  size_ += n;
  return at;
}

Shape::iterator Shape::insert(const_iterator pos, size_type n, int64_t value) {
  const size_type at = open_gap(pos, n);
  std::fill(data_ + at, data_ + at + n, value);
  return data_ + at;
}

Shape::iterator Shape::erase(const_iterator first, const_iterator last) {
  const auto at = static_cast<size_type>(first - data_);
  const auto count = static_cast<size_type>(last - first);
  std::copy(data_ + at + count, data_ + size_, data_ + at);
  size_ -= count;
  return data_ + at;
}

void Shape::out_of_range(size_type i) const noexcept {
  std::fprintf(stderr, "mixgrad: Shape index %zu out of range for %zu dims\n", i, size_);
  std::abort();
}

std::ostream& operator<<(std::ostream& os, const Shape& shape) {
  return os << detail::to_str(shape);
}

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

int64_t checked_mul(int64_t a, int64_t b, const char* op, const char* what) {
  int64_t out = 0;
  MG_CHECK(!__builtin_mul_overflow(a, b, &out), op, what, " overflows int64 (", a, " * ", b, ")");
  return out;
}

int64_t checked_add(int64_t a, int64_t b, const char* op, const char* what) {
  int64_t out = 0;
  MG_CHECK(!__builtin_add_overflow(a, b, &out), op, what, " overflows int64 (", a, " + ", b, ")");
  return out;
}

int64_t checked_numel(const Shape& shape, const char* op) {
  int64_t span = 1;
  bool empty = false;
  for (int64_t s : shape) {
    MG_CHECK(s >= 0, op, "negative size ", s, " in shape ", shape);
    empty |= s == 0;
    MG_CHECK(!__builtin_mul_overflow(span, std::max<int64_t>(s, 1), &span), op, "shape ", shape,
             " has more elements than int64 can count");
  }
  return empty ? 0 : span;
}

int64_t layout_extent(const Shape& shape, const Shape& strides, const char* op) {
  MG_CHECK(shape.size() == strides.size(), op, "shape ", shape, " and strides ", strides,
           " differ in length");
  if (checked_numel(shape, op) == 0) return 0;
  int64_t extent = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    MG_CHECK(strides[i] >= 0, op, "negative stride in strides ", strides);
    extent = checked_add(extent, checked_mul(shape[i] - 1, strides[i], op, "the extent"), op,
                         "the extent");
  }
  return extent;
}

std::size_t checked_nbytes(int64_t elements, std::size_t itemsize, const char* op) {
  MG_CHECK(elements >= 0, op, "negative element count ", elements);
  const auto n = static_cast<std::size_t>(elements);
  MG_CHECK(itemsize == 0 || n <= kMaxTensorBytes / itemsize, op, elements, " elements of ",
           itemsize, " bytes exceed the largest tensor mixgrad allocates (", kMaxTensorBytes,
           " bytes)");
  return n * itemsize;
}

Shape contiguous_strides(const Shape& shape) {
  // Unsigned, so a shape that checked_numel refuses (its callers check first) wraps instead of
  // being undefined behaviour.
  Shape strides(shape.size());
  uint64_t s = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    strides[i] = static_cast<int64_t>(s);
    s *= static_cast<uint64_t>(std::max<int64_t>(shape[i], 1));
  }
  return strides;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t n = std::max<int64_t>(ndim, 1);
  MG_CHECK(dim >= -n && dim < n, op, "dim ", dim, " out of range for a tensor with ", ndim,
           " dims (expected in [", -n, ", ", n - 1, "])");
  return dim < 0 ? dim + n : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    MG_CHECK(da == db || da == 1 || db == 1, op, "shapes ", a, " and ", b,
             " cannot be broadcast together (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape broadcast_strides(const Shape& shape, const Shape& strides, const Shape& target) {
  Shape out(target.size(), 0);
  const size_t lead = target.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i)
    out[lead + i] = shape[i] == 1 && target[lead + i] != 1 ? 0 : strides[i];
  return out;
}

bool is_contiguous_layout(const Shape& shape, const Shape& strides) {
  int64_t expected = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    if (shape[i] == 0) return true;
    if (shape[i] != 1 && strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

// Groups old dims into chunks that are contiguous among themselves and maps each chunk onto the
// new dims covering the same number of elements (PyTorch's computeStride).
std::vector<int64_t> view_strides(const Shape& shape, const Shape& strides, const Shape& new_shape,
                                  bool& ok) {
  ok = true;
  const int64_t numel = numel_of(shape);
  std::vector<int64_t> out(new_shape.size());
  if (numel == 0 || shape.empty()) {  // nothing to preserve: any layout of new_shape works
    out = contiguous_strides(new_shape);
    return out;
  }
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = strides.empty() ? 1 : strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) {
        ok = false;
        return {};
      }
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) ok = false;
  return out;
}

Shape infer_size(const Shape& shape, int64_t numel, const char* op) {
  Shape out = shape;
  int64_t known = 1, infer = -1;  // known: product of the given sizes, zeros counted as 1
  bool zero = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      MG_CHECK(infer < 0, op, "only one dimension can be -1 in shape ", shape);
      infer = static_cast<int64_t>(i);
    } else {
      MG_CHECK(shape[i] >= 0, op, "invalid size ", shape[i], " in shape ", shape);
      known = checked_mul(known, std::max<int64_t>(shape[i], 1), op, "the shape's element count");
      zero |= shape[i] == 0;
    }
  }
  if (infer >= 0) {
    MG_CHECK(!zero && numel % known == 0, op, "shape ", shape, " is invalid for input of size ",
             numel);
    out[infer] = numel / known;
  } else {
    MG_CHECK((zero ? 0 : known) == numel, op, "shape ", shape, " is invalid for input of size ",
             numel);
  }
  return out;
}

}  // namespace mixgrad
