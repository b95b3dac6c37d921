#pragma once
// Tensor: a cheap, shared handle to a TensorImpl (storage + shape + strides + offset + dtype).
// Copying a Tensor copies the handle, never the data; views share storage.
//
// Methods are thin spellings of the free functions in ops/ (x.sum(1) == mg::sum(x, {1})), kept
// so model code reads like PyTorch. Their documentation lives with the op.
#include <concepts>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/scalar.h"
#include "core/shape.h"
#include "core/storage.h"

namespace mixgrad {

class Node;
struct AutogradMeta;
struct ValuesIndices;
class Tensor;

// A gradient hook (Tensor::register_hook) and the id that removes it again.
using GradHook = std::function<Tensor(const Tensor& grad)>;
using HookId = uint64_t;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape sizes;
  Shape strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::Float32;
  // A 0-dim tensor made implicitly from a C++ number; it does not widen the other operand's
  // dtype within its category (float32 tensor * 2.0 stays float32).
  bool wrapped_number = false;
  bool is_view = false;  // shares storage with a tensor produced earlier
  std::unique_ptr<AutogradMeta> autograd;

  TensorImpl();
  ~TensorImpl();
  AutogradMeta& autograd_meta();  // creates it on first use
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  // A C++ number becomes a 0-dim "wrapped number" tensor, so `x * 2` and `mg::add(x, 1.5)` work
  // through the one Tensor overload of each op.
  template <class T>
  requires std::is_arithmetic_v<T> Tensor(T value)
      : Tensor(from_scalar(Scalar(value))) {}  // NOLINT(google-explicit-constructor)
  static Tensor from_scalar(Scalar s);

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().sizes; }
  const Shape& sizes() const { return impl().sizes; }
  int64_t size(int64_t dim) const;
  const Shape& strides() const { return impl().strides; }
  int64_t stride(int64_t dim) const;
  int64_t dim() const { return static_cast<int64_t>(impl().sizes.size()); }
  int64_t numel() const { return numel_of(impl().sizes); }
  int64_t storage_offset() const { return impl().offset; }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  std::size_t element_size() const { return dtype_size(dtype()); }
  bool is_floating_point() const { return is_floating(dtype()); }
  bool is_contiguous() const { return is_contiguous_layout(sizes(), strides()); }
  bool is_wrapped_number() const { return impl().wrapped_number; }
  bool is_view() const { return impl().is_view; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // ---- data access (CPU) ----
  // Address of the first element (offset applied).
  void* data_ptr() const;
  template <class T>
  T* data_ptr() const {
    check_dtype_access(dtype_of_v<T>, "data_ptr");
    return static_cast<T*>(data_ptr());
  }
  // The elements of a contiguous CPU tensor as a span; throws if not contiguous or wrong dtype.
  template <class T>
  std::span<T> data() const {
    check_dtype_access(dtype_of_v<T>, "data");
    MG_CHECK(is_contiguous(), "data", "tensor of shape ", shape(),
             " is not contiguous; call contiguous() first");
    return {static_cast<T*>(data_ptr()), static_cast<std::size_t>(numel())};
  }
  // The single value of a one-element tensor, converted to T.
  template <class T>
  T item() const {
    return item_scalar().to<T>();
  }
  Scalar item_scalar() const;
  // All elements in row-major order, converted to T (any layout, any device).
  template <class T>
  std::vector<T> to_vector() const {
    // Converting before the move lets the device convert types the CPU only stores (float16).
    Tensor c = to(dtype_of_v<T>).to(kCPU).contiguous();
    auto d = c.data<T>();
    return std::vector<T>(d.begin(), d.end());
  }

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& requires_grad_(bool value = true);
  bool is_leaf() const;
  // The accumulated gradient (undefined until a backward pass reaches this tensor).
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  // Clears the accumulated gradient.
  void zero_grad() const;
  // Makes a non-leaf keep its gradient in grad() after backward.
  Tensor& retain_grad();
  const std::shared_ptr<Node>& grad_fn() const;
  // The name of the op that recorded this tensor, as printing shows it ("" for a leaf).
  std::string grad_fn_name() const;
  uint32_t output_nr() const;
  // Registers `hook` to run on the gradient flowing into this tensor during backward (and
  // autograd::grad), after all its uses have contributed, so it sees the summed gradient once.
  // The hook returns an undefined tensor to keep the gradient, or a replacement of the same
  // shape, dtype and device (otherwise backward throws Error); it must not modify `grad` in
  // place. Several hooks run in registration order, each on the previous one's result.
  // Leaf: runs before the gradient is added into grad(); hooks stay for every later backward.
  // Non-leaf: runs before the gradient propagates further and before retain_grad() stores it;
  // the hook belongs to this value in the graph (it survives the handle, and stays with the old
  // value if the tensor is later modified in place) and is freed with the graph after a
  // backward without retain_graph.
  // Lifetime: a hook that captures this tensor (or anything holding its graph) by value forms
  // a reference cycle. For a non-leaf it is broken when a backward without retain_graph frees
  // the graph (so it leaks if the graph is never run); for a leaf it lasts until remove_hook.
  // Capture a std::weak_ptr to impl_ptr(), or detach(), instead. Throws Error if the tensor
  // does not require grad.
  HookId register_hook(GradHook hook) const;
  // Removes a hook registered on this tensor; returns whether it was still there.
  bool remove_hook(HookId id) const;
  // Backpropagates from this tensor; `grad` may be omitted for a one-element tensor.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  // A tensor sharing storage that is cut from the graph.
  Tensor detach() const;
  // Version of the underlying storage; bumped by every in-place op.
  uint64_t version() const { return storage()->version(); }

  // ---- views (share storage) ----
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;
  Tensor permute(const Shape& dims) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, std::optional<int64_t> start = std::nullopt,
               std::optional<int64_t> end = std::nullopt, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor operator[](int64_t index) const { return select(0, index); }
  Tensor expand(const Shape& shape) const;
  Tensor expand_as(const Tensor& other) const { return expand(other.shape()); }
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor unflatten(int64_t dim, const Shape& sizes) const;
  Tensor as_strided(const Shape& sizes, const Shape& strides,
                    std::optional<int64_t> storage_offset = std::nullopt) const;

  // ---- copies and conversions ----
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor& copy_(const Tensor& src);
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;

  // ---- in-place ----
  Tensor& fill_(Scalar value);
  Tensor& zero_();
  Tensor& add_(const Tensor& other, Scalar alpha = 1);
  Tensor& sub_(const Tensor& other, Scalar alpha = 1);
  Tensor& mul_(const Tensor& other);
  Tensor& div_(const Tensor& other);
  Tensor& clamp_(std::optional<double> min, std::optional<double> max);
  Tensor& masked_fill_(const Tensor& mask, Scalar value);
  Tensor& uniform_(double low = 0, double high = 1);
  Tensor& normal_(double mean = 0, double std = 1);
  Tensor& operator+=(const Tensor& o) { return add_(o); }
  Tensor& operator-=(const Tensor& o) { return sub_(o); }
  Tensor& operator*=(const Tensor& o) { return mul_(o); }
  Tensor& operator/=(const Tensor& o) { return div_(o); }

  // ---- math (see ops/*.h) ----
  Tensor add(const Tensor& other, Scalar alpha = 1) const;
  Tensor sub(const Tensor& other, Scalar alpha = 1) const;
  Tensor mul(const Tensor& other) const;
  Tensor div(const Tensor& other) const;
  Tensor pow(const Tensor& exponent) const;
  Tensor neg() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor relu() const;
  Tensor sigmoid() const;
  Tensor tanh() const;
  Tensor square() const;
  Tensor clamp(std::optional<double> min, std::optional<double> max) const;
  template <std::same_as<Tensor> Lo, std::same_as<Tensor> Hi>  // numbers pick the form above
  Tensor clamp(const Lo& min, const Hi& max) const {
    return clamp_tensors(min, max);
  }
  Tensor masked_fill(const Tensor& mask, Scalar value) const;
  template <std::same_as<Tensor> T>  // numbers pick the form above
  Tensor masked_fill(const Tensor& mask, const T& value) const {
    return masked_fill_tensor(mask, value);
  }
  // Reductions over `dims`, or over the one dim `dim` (x.sum(1) as in PyTorch).
  Tensor sum() const;
  Tensor sum(const Shape& dims, bool keepdim = false) const;
  template <std::integral I>  // a template, so that x.sum({}) still means every dim
  Tensor sum(I dim, bool keepdim = false) const {
    return sum(Shape{static_cast<int64_t>(dim)}, keepdim);
  }
  Tensor mean() const;
  Tensor mean(const Shape& dims, bool keepdim = false) const;
  template <std::integral I>  // a template, so that x.mean({}) still means every dim
  Tensor mean(I dim, bool keepdim = false) const {
    return mean(Shape{static_cast<int64_t>(dim)}, keepdim);
  }
  Tensor max() const;
  Tensor min() const;
  // Values and indices of the maximum (minimum) along `dim`, as PyTorch's x.max(dim).
  ValuesIndices max(int64_t dim, bool keepdim = false) const;
  ValuesIndices min(int64_t dim, bool keepdim = false) const;
  Tensor amax(const Shape& dims, bool keepdim = false) const;
  template <std::integral I>  // a template, so that x.amax({}) still means every dim
  Tensor amax(I dim, bool keepdim = false) const {
    return amax(Shape{static_cast<int64_t>(dim)}, keepdim);
  }
  Tensor amin(const Shape& dims, bool keepdim = false) const;
  template <std::integral I>  // a template, so that x.amin({}) still means every dim
  Tensor amin(I dim, bool keepdim = false) const {
    return amin(Shape{static_cast<int64_t>(dim)}, keepdim);
  }
  Tensor argmax(int64_t dim, bool keepdim = false) const;
  Tensor argmin(int64_t dim, bool keepdim = false) const;
  Tensor matmul(const Tensor& other) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor gather(int64_t dim, const Tensor& index) const;
  Tensor index_select(int64_t dim, const Tensor& index) const;
  Tensor eq(const Tensor& o) const;
  Tensor ne(const Tensor& o) const;
  Tensor lt(const Tensor& o) const;
  Tensor le(const Tensor& o) const;
  Tensor gt(const Tensor& o) const;
  Tensor ge(const Tensor& o) const;

  // Printed like PyTorch: values (truncated past 1000 elements), shape, dtype, device.
  std::string to_string() const;

 private:
  void check_dtype_access(DType requested, const char* what) const;
  Tensor clamp_tensors(const Tensor& min, const Tensor& max) const;
  Tensor masked_fill_tensor(const Tensor& mask, const Tensor& value) const;
  std::shared_ptr<TensorImpl> impl_;
};

// Values + indices results (max(dim), topk, sort); usable with structured bindings.
// Tensors with names, in a meaningful order: parameters of a module, entries of a checkpoint.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct ValuesIndices {
  Tensor values;
  Tensor indices;
};

// A tensor over t's storage with the given layout and no autograd link. The building block of
// the view ops, and how kernels take another look at the same memory without recording.
Tensor alias_with_layout(const Tensor& t, Shape sizes, Shape strides, int64_t storage_offset);

std::string describe(const Tensor& t);  // "float32[2, 3] on cpu" for error messages
std::ostream& operator<<(std::ostream& os, const Tensor& t);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);

}  // namespace mixgrad
