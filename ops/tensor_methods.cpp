// Tensor's member spellings of the free ops (x.sum() == mg::sum(x)).
#include "backends/kernels.h"
#include "core/generator.h"
#include "core/grad_mode.h"
#include "core/tensor.h"
#include "ops/ops.h"

namespace mixgrad {

Tensor Tensor::view(const Shape& s) const {
  return mixgrad::view(*this, s);
}
Tensor Tensor::reshape(const Shape& s) const {
  return mixgrad::reshape(*this, s);
}
Tensor Tensor::permute(const Shape& d) const {
  return mixgrad::permute(*this, d);
}
Tensor Tensor::transpose(int64_t a, int64_t b) const {
  return mixgrad::transpose(*this, a, b);
}
Tensor Tensor::t() const {
  return mixgrad::t(*this);
}
Tensor Tensor::narrow(int64_t d, int64_t s, int64_t l) const {
  return mixgrad::narrow(*this, d, s, l);
}
Tensor Tensor::slice(int64_t d, std::optional<int64_t> s, std::optional<int64_t> e,
                     int64_t step) const {
  return mixgrad::slice(*this, d, s, e, step);
}
Tensor Tensor::select(int64_t d, int64_t i) const {
  return mixgrad::select(*this, d, i);
}
Tensor Tensor::expand(const Shape& s) const {
  return mixgrad::expand(*this, s);
}
Tensor Tensor::squeeze() const {
  return mixgrad::squeeze(*this);
}
Tensor Tensor::squeeze(int64_t d) const {
  return mixgrad::squeeze(*this, d);
}
Tensor Tensor::unsqueeze(int64_t d) const {
  return mixgrad::unsqueeze(*this, d);
}
Tensor Tensor::flatten(int64_t s, int64_t e) const {
  return mixgrad::flatten(*this, s, e);
}
Tensor Tensor::unflatten(int64_t d, const Shape& s) const {
  return mixgrad::unflatten(*this, d, s);
}
Tensor Tensor::as_strided(const Shape& sz, const Shape& st, std::optional<int64_t> off) const {
  return mixgrad::as_strided(*this, sz, st, off);
}

Tensor Tensor::contiguous() const {
  return mixgrad::contiguous(*this);
}
Tensor Tensor::clone() const {
  return mixgrad::clone(*this);
}
Tensor& Tensor::copy_(const Tensor& src) {
  return mixgrad::copy_(*this, src);
}
Tensor Tensor::to(DType d) const {
  return mixgrad::to(*this, d);
}
Tensor Tensor::to(Device d) const {
  return mixgrad::to(*this, d);
}

Tensor& Tensor::fill_(Scalar v) {
  return mixgrad::copy_(*this, full({}, v, TensorOptions(dtype()).device(device())));
}
Tensor& Tensor::zero_() {
  return fill_(0);
}
Tensor& Tensor::add_(const Tensor& o, Scalar a) {
  return mixgrad::add_(*this, o, a);
}
Tensor& Tensor::sub_(const Tensor& o, Scalar a) {
  return mixgrad::sub_(*this, o, a);
}
Tensor& Tensor::mul_(const Tensor& o) {
  return mixgrad::mul_(*this, o);
}
Tensor& Tensor::div_(const Tensor& o) {
  return mixgrad::div_(*this, o);
}
Tensor& Tensor::clamp_(std::optional<double> lo, std::optional<double> hi) {
  return mixgrad::clamp_(*this, lo, hi);
}
Tensor& Tensor::masked_fill_(const Tensor& m, Scalar v) {
  return mixgrad::masked_fill_(*this, m, v);
}
namespace {
// Fills a contiguous floating tensor in place straight from the generator: initialising a
// billion parameters must not allocate a second billion. Other layouts go through a copy.
bool fill_random_in_place(Tensor& t, bool normal, double a, double b) {
  if (!t.is_contiguous() || !t.is_floating_point()) return false;
  Generator& g = default_generator();
  const uint64_t first = g.reserve(static_cast<uint64_t>(t.numel()));
  if (normal) {
    kernels::normal(t.device(), t, g.seed(), first, a, b);
  } else {
    kernels::uniform(t.device(), t, g.seed(), first, a, b);
  }
  t.storage()->bump_version();
  return true;
}
}  // namespace

Tensor& Tensor::uniform_(double low, double high) {
  NoGradGuard no_grad;
  if (fill_random_in_place(*this, false, low, high)) return *this;
  return mixgrad::copy_(
      *this, rand(shape(), TensorOptions(dtype()).device(device())) * (high - low) + low);
}
Tensor& Tensor::normal_(double mean, double std) {
  NoGradGuard no_grad;
  if (fill_random_in_place(*this, true, mean, std)) return *this;
  return mixgrad::copy_(*this,
                        randn(shape(), TensorOptions(dtype()).device(device())) * std + mean);
}

Tensor Tensor::add(const Tensor& o, Scalar a) const {
  return mixgrad::add(*this, o, a);
}
Tensor Tensor::sub(const Tensor& o, Scalar a) const {
  return mixgrad::sub(*this, o, a);
}
Tensor Tensor::mul(const Tensor& o) const {
  return mixgrad::mul(*this, o);
}
Tensor Tensor::div(const Tensor& o) const {
  return mixgrad::div(*this, o);
}
Tensor Tensor::pow(const Tensor& e) const {
  return mixgrad::pow(*this, e);
}
Tensor Tensor::neg() const {
  return mixgrad::neg(*this);
}
Tensor Tensor::exp() const {
  return mixgrad::exp(*this);
}
Tensor Tensor::log() const {
  return mixgrad::log(*this);
}
Tensor Tensor::sqrt() const {
  return mixgrad::sqrt(*this);
}
Tensor Tensor::abs() const {
  return mixgrad::abs(*this);
}
Tensor Tensor::relu() const {
  return mixgrad::relu(*this);
}
Tensor Tensor::sigmoid() const {
  return mixgrad::sigmoid(*this);
}
Tensor Tensor::tanh() const {
  return mixgrad::tanh(*this);
}
Tensor Tensor::square() const {
  return mixgrad::square(*this);
}
Tensor Tensor::clamp(std::optional<double> lo, std::optional<double> hi) const {
  return mixgrad::clamp(*this, lo, hi);
}
Tensor Tensor::clamp_tensors(const Tensor& lo, const Tensor& hi) const {
  return detail::clamp_tensor_bounds(*this, lo, hi);
}
Tensor Tensor::masked_fill(const Tensor& m, Scalar v) const {
  return mixgrad::masked_fill(*this, m, v);
}
Tensor Tensor::masked_fill_tensor(const Tensor& m, const Tensor& v) const {
  return detail::masked_fill_tensor_value(*this, m, v);
}
Tensor Tensor::sum() const {
  return mixgrad::sum(*this);
}
Tensor Tensor::sum(const Shape& d, bool k) const {
  return mixgrad::sum(*this, d, k);
}
Tensor Tensor::mean() const {
  return mixgrad::mean(*this);
}
Tensor Tensor::mean(const Shape& d, bool k) const {
  return mixgrad::mean(*this, d, k);
}
Tensor Tensor::max() const {
  return mixgrad::max(*this);
}
Tensor Tensor::min() const {
  return mixgrad::min(*this);
}
ValuesIndices Tensor::max(int64_t d, bool k) const {
  return mixgrad::max(*this, d, k);
}
ValuesIndices Tensor::min(int64_t d, bool k) const {
  return mixgrad::min(*this, d, k);
}
Tensor Tensor::amax(const Shape& d, bool k) const {
  return mixgrad::amax(*this, d, k);
}
Tensor Tensor::amin(const Shape& d, bool k) const {
  return mixgrad::amin(*this, d, k);
}
Tensor Tensor::argmax(int64_t d, bool k) const {
  return mixgrad::argmax(*this, d, k);
}
Tensor Tensor::argmin(int64_t d, bool k) const {
  return mixgrad::argmin(*this, d, k);
}
Tensor Tensor::matmul(const Tensor& o) const {
  return mixgrad::matmul(*this, o);
}
Tensor Tensor::softmax(int64_t d) const {
  return mixgrad::softmax(*this, d);
}
Tensor Tensor::log_softmax(int64_t d) const {
  return mixgrad::log_softmax(*this, d);
}
Tensor Tensor::gather(int64_t d, const Tensor& i) const {
  return mixgrad::gather(*this, d, i);
}
Tensor Tensor::index_select(int64_t d, const Tensor& i) const {
  return mixgrad::index_select(*this, d, i);
}
Tensor Tensor::eq(const Tensor& o) const {
  return mixgrad::eq(*this, o);
}
Tensor Tensor::ne(const Tensor& o) const {
  return mixgrad::ne(*this, o);
}
Tensor Tensor::lt(const Tensor& o) const {
  return mixgrad::lt(*this, o);
}
Tensor Tensor::le(const Tensor& o) const {
  return mixgrad::le(*this, o);
}
Tensor Tensor::gt(const Tensor& o) const {
  return mixgrad::gt(*this, o);
}
Tensor Tensor::ge(const Tensor& o) const {
  return mixgrad::ge(*this, o);
}

Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
Tensor operator-(const Tensor& a, const Tensor& b) {
  return sub(a, b);
}
Tensor operator*(const Tensor& a, const Tensor& b) {
  return mul(a, b);
}
Tensor operator/(const Tensor& a, const Tensor& b) {
  return div(a, b);
}
Tensor operator-(const Tensor& a) {
  return neg(a);
}
Tensor operator<(const Tensor& a, const Tensor& b) {
  return lt(a, b);
}
Tensor operator<=(const Tensor& a, const Tensor& b) {
  return le(a, b);
}
Tensor operator>(const Tensor& a, const Tensor& b) {
  return gt(a, b);
}
Tensor operator>=(const Tensor& a, const Tensor& b) {
  return ge(a, b);
}
Tensor operator==(const Tensor& a, const Tensor& b) {
  return eq(a, b);
}
Tensor operator!=(const Tensor& a, const Tensor& b) {
  return ne(a, b);
}

}  // namespace mixgrad
