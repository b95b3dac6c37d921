#pragma once
// Shape arithmetic shared by every op: numel, contiguous strides, dim wrapping, broadcasting.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <iterator>
#include <vector>

namespace mixgrad {

// A tensor's sizes (or strides): a sequence of int64 with the interface of std::vector<int64_t>,
// converting to and from it, that keeps up to kInline entries inside the object. Every tensor has
// two and most ops build a few, so a heap block per shape was the most common allocation of a
// small op (issue 16 counted them); PyTorch keeps its sizes the same way (SmallVector<int64_t, 5>).
class Shape {
 public:
  static constexpr std::size_t kInline = 6;
  using value_type = int64_t;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using reference = int64_t&;
  using const_reference = const int64_t&;
  using pointer = int64_t*;
  using const_pointer = const int64_t*;
  using iterator = int64_t*;
  using const_iterator = const int64_t*;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;

  Shape() noexcept = default;
  // n entries of `value` (0 by default), as std::vector's.
  explicit Shape(size_type n, int64_t value = 0) { assign(n, value); }
  Shape(std::initializer_list<int64_t> values) { assign(values.begin(), values.end()); }
  template <std::input_iterator It>
  Shape(It first, It last) {
    assign(first, last);
  }
  Shape(const std::vector<int64_t>& values) { assign(values.begin(), values.end()); }
  Shape(const Shape& other) { assign(other.begin(), other.end()); }
  Shape(Shape&& other) noexcept { take(other); }
  Shape& operator=(const Shape& other) {
    if (this != &other) assign(other.begin(), other.end());
    return *this;
  }
  Shape& operator=(Shape&& other) noexcept {
    if (this != &other) {
      release();
      take(other);
    }
    return *this;
  }
  Shape& operator=(std::initializer_list<int64_t> values) {
    assign(values.begin(), values.end());
    return *this;
  }
  ~Shape() { release(); }

  operator std::vector<int64_t>() const { return std::vector<int64_t>(begin(), end()); }

  size_type size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  size_type capacity() const noexcept { return capacity_; }
  int64_t* data() noexcept { return data_; }
  const int64_t* data() const noexcept { return data_; }
  int64_t& operator[](size_type i) noexcept {
    check_index(i);
    return data_[i];
  }
  const int64_t& operator[](size_type i) const noexcept {
    check_index(i);
    return data_[i];
  }
  int64_t& at(size_type i);
  const int64_t& at(size_type i) const;
  int64_t& front() noexcept { return (*this)[0]; }
  const int64_t& front() const noexcept { return (*this)[0]; }
  int64_t& back() noexcept { return (*this)[size_ - 1]; }
  const int64_t& back() const noexcept { return (*this)[size_ - 1]; }

  iterator begin() noexcept { return data_; }
  iterator end() noexcept { return data_ + size_; }
  const_iterator begin() const noexcept { return data_; }
  const_iterator end() const noexcept { return data_ + size_; }
  const_iterator cbegin() const noexcept { return data_; }
  const_iterator cend() const noexcept { return data_ + size_; }
  reverse_iterator rbegin() noexcept { return reverse_iterator(end()); }
  reverse_iterator rend() noexcept { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const noexcept { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const noexcept { return const_reverse_iterator(begin()); }

  void reserve(size_type n) {
    if (n > capacity_) grow_to(n);
  }
  void clear() noexcept { size_ = 0; }
  void push_back(int64_t v) {
    if (size_ == capacity_) grow_to(capacity_ * 2);
    data_[size_++] = v;
  }
  int64_t& emplace_back(int64_t v) {
    push_back(v);
    return back();
  }
  void pop_back() noexcept {
    check_index(size_ - 1);
    --size_;
  }
  void resize(size_type n, int64_t value = 0) {
    reserve(n);
    if (n > size_) std::fill(data_ + size_, data_ + n, value);
    size_ = n;
  }
  void assign(size_type n, int64_t value) {
    size_ = 0;
    resize(n, value);
  }
  template <std::input_iterator It>
  void assign(It first, It last) {
    size_ = 0;
    if constexpr (std::forward_iterator<It>)
      reserve(static_cast<size_type>(std::distance(first, last)));
    for (; first != last; ++first) push_back(static_cast<int64_t>(*first));
  }
  void assign(std::initializer_list<int64_t> values) { assign(values.begin(), values.end()); }
  iterator insert(const_iterator pos, int64_t value) { return insert(pos, size_type{1}, value); }
  iterator insert(const_iterator pos, size_type n, int64_t value);
  template <std::forward_iterator It>
  iterator insert(const_iterator pos, It first, It last) {
    // Copied first: [first, last) may lie in this Shape, which the insertion moves.
    const Shape values(first, last);
    const size_type at = open_gap(pos, values.size());
    std::copy(values.begin(), values.end(), data_ + at);
    return data_ + at;
  }
  iterator insert(const_iterator pos, std::initializer_list<int64_t> values) {
    return insert(pos, values.begin(), values.end());
  }
  iterator erase(const_iterator pos) { return erase(pos, pos + 1); }
  iterator erase(const_iterator first, const_iterator last);
  void swap(Shape& other) noexcept {
    Shape tmp(std::move(other));
    other = std::move(*this);
    *this = std::move(tmp);
  }

  friend bool operator==(const Shape& a, const Shape& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend auto operator<=>(const Shape& a, const Shape& b) {
    return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  bool is_inline() const noexcept { return data_ == inline_; }
  // A std::vector's storage usually ends at its last entry, so AddressSanitizer caught a read
  // past a shape's end; the inline buffer hides it, so builds with the sanitizer check here.
  void check_index([[maybe_unused]] size_type i) const noexcept {
#if defined(__SANITIZE_ADDRESS__)
    if (i >= size_) out_of_range(i);
#endif
  }
  [[noreturn]] void out_of_range(size_type i) const noexcept;
  void grow_to(size_type n);
  // Makes room for n entries at pos (moving the tail); returns pos's index.
  size_type open_gap(const_iterator pos, size_type n);
  void release() noexcept {
    if (!is_inline()) delete[] data_;
    data_ = inline_;
    capacity_ = kInline;
    size_ = 0;
  }
  // Takes other's entries (its heap block, or a copy of its inline ones); leaves it empty.
  void take(Shape& other) noexcept {
    if (other.is_inline()) {
      std::copy(other.begin(), other.end(), inline_);
    } else {
      data_ = other.data_;
      capacity_ = other.capacity_;
      other.data_ = other.inline_;
      other.capacity_ = kInline;
    }
    size_ = other.size_;
    other.size_ = 0;
  }

  int64_t inline_[kInline];
  int64_t* data_ = inline_;
  size_type size_ = 0;
  size_type capacity_ = kInline;
};

// "[2, 3, 4]", as error messages write shapes.
std::ostream& operator<<(std::ostream& os, const Shape& shape);

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
