#include "ops/creation.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "backends/kernels.h"
#include "ops/sort.h"

namespace mixgrad {

namespace {
Tensor finish(Tensor t, const TensorOptions& o) {
  if (o.requires_grad_) t.requires_grad_(true);
  return t;
}
}  // namespace

Tensor full(const Shape& shape, Scalar value, TensorOptions options) {
  TensorOptions o = options;
  o.requires_grad_ = false;
  if (!o.dtype_) o.dtype_ = value.natural_dtype();
  Tensor t = empty(shape, o);
  kernels::fill(t.device(), t, value);
  return finish(t, options);
}

Tensor zeros(const Shape& shape, TensorOptions options) {
  if (!options.dtype_) options.dtype_ = default_dtype();
  return full(shape, 0, options);
}

Tensor ones(const Shape& shape, TensorOptions options) {
  if (!options.dtype_) options.dtype_ = default_dtype();
  return full(shape, 1, options);
}

Tensor scalar_tensor(Scalar value, TensorOptions options) {
  return full({}, value, options);
}

Tensor Tensor::from_scalar(Scalar s) {
  // Held at full precision; result_type() decides the dtype the op computes in.
  const DType exact = s.is_floating() ? DType::Float64 : (s.is_bool() ? DType::Bool : DType::Int64);
  Tensor t = scalar_tensor(s, exact);
  t.impl().wrapped_number = true;
  return t;
}

Tensor zeros_like(const Tensor& t, std::optional<DType> dtype) {
  return full_like(t, 0, dtype);
}
Tensor ones_like(const Tensor& t, std::optional<DType> dtype) {
  return full_like(t, 1, dtype);
}
Tensor full_like(const Tensor& t, Scalar value, std::optional<DType> dtype) {
  return full(t.shape(), value, TensorOptions(dtype.value_or(t.dtype())).device(t.device()));
}

Tensor arange(Scalar end, TensorOptions options) {
  return arange(0, end, 1, options);
}

namespace {
// Integer bounds beyond 2^53 (which a double cannot hold exactly), computed in int64 on the
// host: the count is exact and each value is start + i * step in wrapping unsigned arithmetic,
// exact because every value lies in [start, end).
Tensor integer_arange(int64_t start, int64_t end, int64_t step, TensorOptions options) {
  MG_CHECK(step != 0, "arange", "step must be non-zero");
  MG_CHECK((step > 0 && end >= start) || (step < 0 && end <= start), "arange", "upper bound ", end,
           " and lower bound ", start, " inconsistent with step sign ", step);
  const uint64_t span = step > 0 ? static_cast<uint64_t>(end) - static_cast<uint64_t>(start)
                                 : static_cast<uint64_t>(start) - static_cast<uint64_t>(end);
  const uint64_t stride = step > 0 ? static_cast<uint64_t>(step) : 0 - static_cast<uint64_t>(step);
  const uint64_t n = span / stride + (span % stride != 0 ? 1 : 0);
  MG_CHECK(n <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), "arange", "the range ",
           start, " -> ", end, " in steps of ", step, " has more elements than int64 can count");
  Tensor host = empty({static_cast<int64_t>(n)}, kInt64);
  int64_t* p = host.data_ptr<int64_t>();
  for (uint64_t i = 0; i < n; ++i)
    p[i] = static_cast<int64_t>(static_cast<uint64_t>(start) + i * static_cast<uint64_t>(step));
  Tensor t = options.dtype_ && *options.dtype_ != kInt64 ? host.to(*options.dtype_) : host;
  if (!(options.device_ == t.device())) t = t.to(options.device_);
  return finish(t, options);
}
}  // namespace

Tensor arange(Scalar start, Scalar end, Scalar step, TensorOptions options) {
  constexpr int64_t kExactInDouble = int64_t{1} << 53;
  auto exact = [](const Scalar& v) {
    return v.to_int() >= -kExactInDouble && v.to_int() <= kExactInDouble;
  };
  if (!start.is_floating() && !end.is_floating() && !step.is_floating() &&
      !(exact(start) && exact(end) && exact(step)))
    return integer_arange(start.to_int(), end.to_int(), step.to_int(), options);
  const double s = start.to_double(), e = end.to_double(), st = step.to_double();
  MG_CHECK(st != 0, "arange", "step must be non-zero");
  MG_CHECK((st > 0 && e >= s) || (st < 0 && e <= s), "arange", "upper bound ", e,
           " and lower bound ", s, " inconsistent with step sign ", st);
  const bool integral = !start.is_floating() && !end.is_floating() && !step.is_floating();
  const DType dtype = options.dtype_or(integral ? DType::Int64 : default_dtype());
  MG_CHECK(std::isfinite(s) && std::isfinite(e), "arange", "unsupported range: ", s, " -> ", e);
  const double count = std::ceil((e - s) / st);
  // 2^63 is the first double beyond int64 (converting it would be undefined behaviour).
  MG_CHECK(count < 0x1p63, "arange", "the range ", s, " -> ", e, " in steps of ", st, " has ",
           count, " elements, more than int64 can count");
  const auto n = static_cast<int64_t>(count);
  TensorOptions o = options;
  o.dtype_ = dtype;
  o.requires_grad_ = false;
  Tensor t = empty({n}, o);
  kernels::arange(t.device(), t, s, st);
  return finish(t, options);
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions options) {
  MG_CHECK(steps >= 0, "linspace", "number of steps must be non-negative, got ", steps);
  TensorOptions o = options;
  o.dtype_ = options.dtype_or(default_dtype());
  o.requires_grad_ = false;
  Tensor t = empty({steps}, o);
  const double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  kernels::arange(t.device(), t, start, step);
  return finish(t, options);
}

Tensor eye(int64_t n, std::optional<int64_t> m_opt, TensorOptions options) {
  const int64_t m = m_opt.value_or(n);
  MG_CHECK(n >= 0 && m >= 0, "eye", "sizes must be non-negative, got ", n, " x ", m);
  TensorOptions o = options;
  o.requires_grad_ = false;
  Tensor t = zeros({n, m}, o);
  const int64_t d = std::min(n, m);
  if (d > 0) {
    Tensor diag = t.as_strided({d}, {m + 1}, 0);  // the main diagonal as a view
    kernels::fill(t.device(), diag, 1);
  }
  return finish(t, options);
}

namespace {
Generator& gen_or_default(Generator* g) {
  return g ? *g : default_generator();
}

// Each element gets its own Philox block, so the numbers do not depend on thread count.
Tensor random_tensor(const Shape& shape, TensorOptions options, Generator* gen, bool normal) {
  TensorOptions o = options;
  o.dtype_ = options.dtype_or(default_dtype());
  o.requires_grad_ = false;
  MG_CHECK(is_floating(*o.dtype_), normal ? "randn" : "rand", "expected a floating dtype, got ",
           *o.dtype_);
  Tensor t = empty(shape, o);
  Generator& g = gen_or_default(gen);
  const uint64_t first = g.reserve(static_cast<uint64_t>(t.numel()));
  if (normal)
    kernels::normal(t.device(), t, g.seed(), first, 0.0, 1.0);
  else
    kernels::uniform(t.device(), t, g.seed(), first, 0.0, 1.0);
  return finish(t, options);
}
}  // namespace

Tensor rand(const Shape& shape, TensorOptions options, Generator* gen) {
  return random_tensor(shape, options, gen, false);
}
Tensor randn(const Shape& shape, TensorOptions options, Generator* gen) {
  return random_tensor(shape, options, gen, true);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options,
               Generator* gen) {
  MG_CHECK(low < high, "randint", "expected low < high, got low=", low, " high=", high);
  TensorOptions o = options;
  o.dtype_ = options.dtype_or(DType::Int64);
  Tensor t = empty(shape, o);
  Generator& g = gen_or_default(gen);
  const uint64_t first = g.reserve(static_cast<uint64_t>(t.numel()));
  kernels::randint(t.device(), t, g.seed(), first, low, high);
  return t;
}

Tensor rand_like(const Tensor& t, Generator* gen) {
  return rand(t.shape(), options_of(t), gen);
}
Tensor randn_like(const Tensor& t, Generator* gen) {
  return randn(t.shape(), options_of(t), gen);
}

Tensor randperm(int64_t n, TensorOptions options, Generator* gen) {
  MG_CHECK(n >= 0, "randperm", "n must be non-negative, got ", n);
  // Sorting random keys gives a uniformly random permutation (ties have probability ~2^-53).
  Tensor keys = rand({n}, TensorOptions(DType::Float64).device(options.device_), gen);
  Tensor perm = argsort(keys, 0);
  return options.dtype_ ? perm.to(*options.dtype_) : perm;
}

template <class T>
Tensor tensor(const std::vector<T>& data, std::optional<Shape> shape, TensorOptions options) {
  Shape s = shape.value_or(Shape{static_cast<int64_t>(data.size())});
  const int64_t n = checked_numel(s, "tensor");
  MG_CHECK(n == static_cast<int64_t>(data.size()), "tensor", "shape ", s, " needs ", n,
           " values but ", data.size(), " were given");
  Tensor host = empty(s, TensorOptions(dtype_of_v<T>));
  if constexpr (std::is_same_v<T, bool>) {
    bool* p = host.data_ptr<bool>();
    for (size_t i = 0; i < data.size(); ++i) p[i] = data[i];
  } else if (!data.empty()) {
    std::memcpy(host.data_ptr(), data.data(), data.size() * sizeof(T));
  }
  Tensor t = host;
  if (options.dtype_ && *options.dtype_ != t.dtype()) t = t.to(*options.dtype_);
  if (!(options.device_ == t.device())) t = t.to(options.device_);
  return finish(t, options);
}

template Tensor tensor<float>(const std::vector<float>&, std::optional<Shape>, TensorOptions);
template Tensor tensor<double>(const std::vector<double>&, std::optional<Shape>, TensorOptions);
template Tensor tensor<int64_t>(const std::vector<int64_t>&, std::optional<Shape>, TensorOptions);
template Tensor tensor<int32_t>(const std::vector<int32_t>&, std::optional<Shape>, TensorOptions);
template Tensor tensor<bool>(const std::vector<bool>&, std::optional<Shape>, TensorOptions);

}  // namespace mixgrad
