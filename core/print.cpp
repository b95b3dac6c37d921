// PyTorch-like printing: values (summarised with "..." past 1000 elements), then shape, dtype
// and device.
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/grad_mode.h"
#include "core/tensor.h"

namespace mixgrad {

namespace {

constexpr int64_t kSummariseAbove = 1000;
constexpr int64_t kEdgeItems = 3;

struct Formatter {
  bool floating = false;
  bool is_bool = false;
  bool scientific = false;
  bool integral_values = true;
  int width = 1;

  std::string format(double v) const {
    char buf[64];
    if (is_bool) return v != 0 ? "True" : "False";
    if (!floating) {
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    } else if (std::isnan(v)) {
      return "nan";
    } else if (std::isinf(v)) {
      return v > 0 ? "inf" : "-inf";
    } else if (scientific) {
      std::snprintf(buf, sizeof buf, "%.4e", v);
    } else if (integral_values) {
      std::snprintf(buf, sizeof buf, "%.0f.", v);
    } else {
      std::snprintf(buf, sizeof buf, "%.4f", v);
    }
    return buf;
  }
};

// Indices shown along a dim of `size` (all, or the edges when summarising).
std::vector<int64_t> shown(int64_t size, bool summarise) {
  std::vector<int64_t> idx;
  if (!summarise || size <= 2 * kEdgeItems) {
    for (int64_t i = 0; i < size; ++i) idx.push_back(i);
  } else {
    for (int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
    idx.push_back(-1);  // the "..." marker
    for (int64_t i = size - kEdgeItems; i < size; ++i) idx.push_back(i);
  }
  return idx;
}

void collect(const std::vector<double>& v, const Shape& shape, const Shape& strides, int64_t dim,
             int64_t off, bool summarise, std::vector<double>& out) {
  if (dim == static_cast<int64_t>(shape.size())) {
    out.push_back(v[off]);
    return;
  }
  for (int64_t i : shown(shape[dim], summarise))
    if (i >= 0) collect(v, shape, strides, dim + 1, off + i * strides[dim], summarise, out);
}

void render(std::ostringstream& os, const std::vector<double>& v, const Shape& shape,
            const Shape& strides, int64_t dim, int64_t off, bool summarise, const Formatter& f,
            int indent) {
  if (dim == static_cast<int64_t>(shape.size())) {
    std::string s = f.format(v[off]);
    os << std::string(std::max<int>(0, f.width - static_cast<int>(s.size())), ' ') << s;
    return;
  }
  os << '[';
  const auto idx = shown(shape[dim], summarise);
  const bool last_dim = dim + 1 == static_cast<int64_t>(shape.size());
  for (size_t k = 0; k < idx.size(); ++k) {
    if (k > 0) {
      os << ',';
      if (last_dim) {
        os << ' ';
      } else {
        os << std::string(shape.size() - dim - 1, '\n') << std::string(indent + dim + 1, ' ');
      }
    }
    if (idx[k] < 0)
      os << "...";
    else
      render(os, v, shape, strides, dim + 1, off + idx[k] * strides[dim], summarise, f, indent);
  }
  os << ']';
}

}  // namespace

std::string Tensor::to_string() const {
  if (!defined()) return "tensor(undefined)";
  std::vector<double> values;
  {
    NoGradGuard no_grad;
    values = to_vector<double>();
  }
  const Shape& shape = sizes();
  const Shape strides = contiguous_strides(shape);
  const bool summarise = numel() > kSummariseAbove;

  Formatter f;
  f.floating = is_floating_point();
  f.is_bool = dtype() == DType::Bool;
  std::vector<double> visible;
  collect(values, shape, strides, 0, 0, summarise, visible);
  double max_abs = 0, min_abs = INFINITY;
  for (double v : visible) {
    if (!std::isfinite(v)) continue;
    if (v != std::floor(v)) f.integral_values = false;
    max_abs = std::max(max_abs, std::fabs(v));
    if (v != 0) min_abs = std::min(min_abs, std::fabs(v));
  }
  if (f.floating && (max_abs >= 1e8 || (!f.integral_values && min_abs < 1e-4) ||
                     (min_abs < INFINITY && max_abs / min_abs > 1000 && !f.integral_values)))
    f.scientific = true;
  for (double v : visible) f.width = std::max<int>(f.width, static_cast<int>(f.format(v).size()));

  std::ostringstream os;
  os << "tensor(";
  if (numel() == 0) {
    os << "[]";
  } else {
    render(os, values, shape, strides, 0, 0, summarise, f, 7);
  }
  os << ", shape=" << detail::to_str(shape) << ", dtype=" << dtype_name(dtype());
  if (!device().is_cpu()) os << ", device=" << describe(device());
  if (grad_fn())
    os << ", grad_fn=<" << grad_fn_name() << ">";
  else if (requires_grad())
    os << ", requires_grad=true";
  os << ')';
  return os.str();
}

}  // namespace mixgrad
