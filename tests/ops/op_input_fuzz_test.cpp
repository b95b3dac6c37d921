// Random arguments for the index, view and creation ops — dims, indices and sizes that are
// negative, out of range, huge or empty — each checked against a small reference that follows
// PyTorch's rules element by element: mixgrad must give the reference's result or, where the
// reference (PyTorch) raises, a mixgrad::Error. Never another exception, a crash or a wrong
// shape. Seeded, so a failure names the case that reproduces it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <sstream>

#include "common/test_util.h"

namespace mg = mixgrad;
using mg::Shape;
using mg::Tensor;

namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
// Results with more elements than this are compared by shape only.
constexpr int64_t kCompareLimit = 4096;
// A result this large may also be refused with an Error (out of memory), as PyTorch would.
constexpr int64_t kMayNotFit = int64_t{1} << 32;

// A row-major array of doubles: what PyTorch would return.
struct Ref {
  Shape shape;
  std::vector<double> v;
};
using Expected = std::optional<Ref>;  // nullopt: PyTorch raises

// The element count, or nullopt when it leaves int64 (zeros counted as 1, as the strides must
// fit too) or a size is negative.
std::optional<int64_t> count(const Shape& s) {
  int64_t span = 1;
  bool empty = false;
  for (int64_t d : s) {
    if (d < 0 || __builtin_mul_overflow(span, std::max<int64_t>(d, 1), &span)) return std::nullopt;
    empty |= d == 0;
  }
  return empty ? 0 : span;
}

// PyTorch's maybe_wrap_dim: a 0-dim tensor accepts dims 0 and -1.
std::optional<int64_t> wrap(int64_t dim, int64_t ndim) {
  const int64_t n = std::max<int64_t>(ndim, 1);
  if (dim < -n || dim >= n) return std::nullopt;
  return dim < 0 ? dim + n : dim;
}

Shape strides_of(const Shape& s) {
  Shape st(s.size(), 1);
  for (int64_t i = static_cast<int64_t>(s.size()) - 2; i >= 0; --i)
    st[i] = st[i + 1] * std::max<int64_t>(s[i + 1], 1);
  return st;
}

// Builds a result of `shape` whose element at each multi-index is `at(index)`; values are
// skipped (shape-only comparison) above kCompareLimit.
Ref build(const Shape& shape, const std::function<double(const Shape&)>& at) {
  Ref r{shape, {}};
  const int64_t n = *count(shape);
  if (n > kCompareLimit) return r;
  Shape idx(shape.size(), 0);
  for (int64_t k = 0; k < n; ++k) {
    r.v.push_back(at(idx));
    for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return r;
}

double get(const Ref& x, const Shape& idx) {
  const Shape st = strides_of(x.shape);
  int64_t off = 0;
  for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * st[d];
  return x.v[off];
}

// ---- the reference ops (PyTorch's argument rules) ----

Expected ref_narrow(const Ref& x, int64_t dim, int64_t start, int64_t length) {
  const int64_t n = static_cast<int64_t>(x.shape.size());
  const auto d = wrap(dim, n);
  if (n == 0 || !d || length < 0) return std::nullopt;
  const int64_t size = x.shape[*d];
  // PyTorch wraps a negative start like a dim of `size` (on an empty dim it would take -1 as 0;
  // mixgrad refuses that one case, which the rule "result or Error" allows).
  if (start < 0) {
    if (start < -size) return std::nullopt;
    start += size;
  }
  if (start > size || length > size - start) return std::nullopt;
  Shape shape = x.shape;
  shape[*d] = length;
  return build(shape, [&](Shape i) {
    i[*d] += start;
    return get(x, i);
  });
}

Expected ref_select(const Ref& x, int64_t dim, int64_t index) {
  const int64_t n = static_cast<int64_t>(x.shape.size());
  const auto d = wrap(dim, n);
  if (n == 0 || !d) return std::nullopt;
  const int64_t size = x.shape[*d];
  if (index < -size || index >= size) return std::nullopt;
  if (index < 0) index += size;
  Shape shape = x.shape;
  shape.erase(shape.begin() + *d);
  return build(shape, [&](const Shape& i) {
    Shape full = i;
    full.insert(full.begin() + *d, index);
    return get(x, full);
  });
}

Expected ref_slice(const Ref& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  const int64_t n = static_cast<int64_t>(x.shape.size());
  const auto d = wrap(dim, n);
  if (n == 0 || !d || step <= 0) return std::nullopt;
  const int64_t size = x.shape[*d];
  auto clamp = [size](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + size : v, 0, size); };
  const int64_t b = clamp(start), e = std::max(b, clamp(end));
  Shape shape = x.shape;
  shape[*d] = e == b ? 0 : (e - b - 1) / step + 1;
  return build(shape, [&](Shape i) {
    i[*d] = b + i[*d] * step;
    return get(x, i);
  });
}

Expected ref_expand(const Ref& x, const Shape& target) {
  const int64_t n = static_cast<int64_t>(target.size()),
                have = static_cast<int64_t>(x.shape.size());
  if (n < have) return std::nullopt;
  Shape shape(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t lead = n - have;
    if (i < lead) {
      if (target[i] < 0) return std::nullopt;
      shape[i] = target[i];
      continue;
    }
    const int64_t size = x.shape[i - lead];
    const int64_t want = target[i] == -1 ? size : target[i];
    if (want < 0 || (want != size && size != 1)) return std::nullopt;
    shape[i] = want;
  }
  if (!count(shape)) return std::nullopt;
  return build(shape, [&](const Shape& i) {
    Shape src(i.end() - have, i.end());
    for (int64_t k = 0; k < have; ++k)
      if (x.shape[k] == 1) src[k] = 0;
    return get(x, src);
  });
}

Expected ref_permute(const Ref& x, const Shape& dims) {
  const int64_t n = static_cast<int64_t>(x.shape.size());
  if (static_cast<int64_t>(dims.size()) != n) return std::nullopt;
  Shape order(n), shape(n);
  std::vector<bool> seen(n, false);
  for (int64_t i = 0; i < n; ++i) {
    const auto d = wrap(dims[i], n);
    if (!d || seen[*d]) return std::nullopt;
    seen[*d] = true;
    order[i] = *d;
    shape[i] = x.shape[*d];
  }
  return build(shape, [&](const Shape& i) {
    Shape src(n);
    for (int64_t k = 0; k < n; ++k) src[order[k]] = i[k];
    return get(x, src);
  });
}

Expected ref_transpose(const Ref& x, int64_t d0, int64_t d1) {
  const int64_t n = static_cast<int64_t>(x.shape.size());
  const auto a = wrap(d0, n), b = wrap(d1, n);
  if (!a || !b) return std::nullopt;
  if (n == 0) return x;
  Shape dims(n);
  for (int64_t i = 0; i < n; ++i) dims[i] = i;
  std::swap(dims[*a], dims[*b]);
  return ref_permute(x, dims);
}

// PyTorch's infer_size for reshape/view.
std::optional<Shape> infer(const Shape& shape, int64_t numel) {
  int64_t known = 1;
  std::optional<size_t> minus_one;
  bool zero = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (minus_one) return std::nullopt;
      minus_one = i;
    } else if (shape[i] < 0 ||
               __builtin_mul_overflow(known, std::max<int64_t>(shape[i], 1), &known)) {
      return std::nullopt;
    } else {
      zero |= shape[i] == 0;
    }
  }
  Shape out = shape;
  if (minus_one) {
    if (zero || numel % known != 0) return std::nullopt;
    out[*minus_one] = numel / known;
  } else if ((zero ? 0 : known) != numel) {
    return std::nullopt;
  }
  return out;
}

Expected ref_reshape(const Ref& x, const Shape& shape) {
  const auto s = infer(shape, *count(x.shape));
  if (!s) return std::nullopt;
  Ref r{*s, x.v};
  return r;
}

Expected ref_squeeze(const Ref& x, int64_t dim) {  // (0-dim: dims 0 and -1)
  const int64_t n = static_cast<int64_t>(x.shape.size());
  const auto d = wrap(dim, n);
  if (!d) return std::nullopt;
  if (n == 0 || x.shape[*d] != 1) return x;
  Ref r = x;
  r.shape.erase(r.shape.begin() + *d);
  return r;
}

Expected ref_unsqueeze(const Ref& x, int64_t dim) {
  const auto d = wrap(dim, static_cast<int64_t>(x.shape.size()) + 1);
  if (!d) return std::nullopt;
  Ref r = x;
  r.shape.insert(r.shape.begin() + *d, 1);
  return r;
}

Expected ref_flatten(const Ref& x, int64_t start, int64_t end) {
  const int64_t n = static_cast<int64_t>(x.shape.size());
  const auto s = wrap(start, n), e = wrap(end, n);
  if (!s || !e || *s > *e) return std::nullopt;
  if (n == 0) return Ref{{1}, x.v};
  Shape shape(x.shape.begin(), x.shape.begin() + *s);
  int64_t merged = 1;
  for (int64_t i = *s; i <= *e; ++i) merged *= x.shape[i];
  shape.push_back(merged);
  shape.insert(shape.end(), x.shape.begin() + *e + 1, x.shape.end());
  return Ref{shape, x.v};
}

Expected ref_unflatten(const Ref& x, int64_t dim, const Shape& sizes) {
  const int64_t n = static_cast<int64_t>(x.shape.size());
  const auto d = wrap(dim, n);
  if (n == 0 || !d || sizes.empty()) return std::nullopt;
  const auto inner = infer(sizes, x.shape[*d]);
  if (!inner) return std::nullopt;
  Shape shape(x.shape.begin(), x.shape.begin() + *d);
  shape.insert(shape.end(), inner->begin(), inner->end());
  shape.insert(shape.end(), x.shape.begin() + *d + 1, x.shape.end());
  return Ref{shape, x.v};
}

Expected ref_diagonal(const Ref& x, int64_t offset, int64_t dim1, int64_t dim2) {
  const int64_t n = static_cast<int64_t>(x.shape.size());
  const auto a = wrap(dim1, n), b = wrap(dim2, n);
  if (n < 2 || !a || !b || *a == *b) return std::nullopt;
  // In __int128: the offset may be as large as int64 allows.
  const __int128 row0 = offset < 0 ? -static_cast<__int128>(offset) : 0;
  const __int128 col0 = offset > 0 ? offset : 0;
  const __int128 len = std::max<__int128>(0, std::min(x.shape[*a] - row0, x.shape[*b] - col0));
  Shape shape;
  for (int64_t i = 0; i < n; ++i)
    if (i != *a && i != *b) shape.push_back(x.shape[i]);
  shape.push_back(static_cast<int64_t>(len));
  return build(shape, [&](const Shape& i) {
    Shape src(n);
    size_t k = 0;
    for (int64_t j = 0; j < n; ++j)
      if (j != *a && j != *b) src[j] = i[k++];
    src[*a] = static_cast<int64_t>(row0) + i.back();
    src[*b] = static_cast<int64_t>(col0) + i.back();
    return get(x, src);
  });
}

Expected ref_index_select(const Ref& x, int64_t dim, const std::vector<int64_t>& index) {
  const int64_t n = static_cast<int64_t>(x.shape.size());
  const auto d = wrap(dim, n);
  if (n == 0 || !d) return std::nullopt;
  for (int64_t i : index)
    if (i < 0 || i >= x.shape[*d]) return std::nullopt;
  Shape shape = x.shape;
  shape[*d] = static_cast<int64_t>(index.size());
  return build(shape, [&](Shape i) {
    i[*d] = index[i[*d]];
    return get(x, i);
  });
}

// PyTorch reads a 0-dim input or index as 1-D of size 1 here (ensure_nonempty_dim/size).
Expected ref_gather(const Ref& x, int64_t dim, const Ref& index) {
  const int64_t n = std::max<int64_t>(1, static_cast<int64_t>(x.shape.size()));
  const auto d = wrap(dim, static_cast<int64_t>(x.shape.size()));
  if (!d || std::max<int64_t>(1, static_cast<int64_t>(index.shape.size())) != n)
    return std::nullopt;
  auto size_of = [](const Ref& t, int64_t k) { return t.shape.empty() ? 1 : t.shape[k]; };
  for (int64_t k = 0; k < n; ++k)
    if (k != *d && size_of(index, k) > size_of(x, k)) return std::nullopt;
  for (double i : index.v)
    if (i < 0 || i >= static_cast<double>(size_of(x, *d))) return std::nullopt;
  return build(index.shape, [&](const Shape& i) {
    const auto value = static_cast<int64_t>(get(index, i));
    if (x.shape.empty()) return x.v[0];
    Shape src = i.empty() ? Shape{0} : i;
    src[*d] = value;
    return get(x, src);
  });
}

Expected ref_repeat(const Ref& x, const Shape& repeats) {
  const int64_t n = static_cast<int64_t>(repeats.size()),
                have = static_cast<int64_t>(x.shape.size());
  if (n < have) return std::nullopt;
  Shape shape(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t s = i < n - have ? 1 : x.shape[i - (n - have)];
    if (repeats[i] < 0 || __builtin_mul_overflow(repeats[i], s, &shape[i])) return std::nullopt;
  }
  if (!count(shape)) return std::nullopt;
  return build(shape, [&](const Shape& i) {
    Shape src(i.end() - have, i.end());
    for (int64_t k = 0; k < have; ++k) src[k] %= x.shape[k];
    return get(x, src);
  });
}

// ---- the random arguments ----

class Args {
 public:
  explicit Args(uint64_t seed) : rng_(seed) {}
  int64_t pick(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  // Mostly small values around the valid range, sometimes one at the edge of int64.
  int64_t value() {
    static constexpr int64_t kHuge[] = {
        kMax,    kMin, kMax / 2 + 1, int64_t{1} << 40, int64_t{1} << 62, -(int64_t{1} << 40),
        kMin + 1};
    if (pick(0, 9) == 0) return kHuge[pick(0, std::size(kHuge) - 1)];
    return pick(-6, 6);
  }
  Shape values(int64_t lo, int64_t hi) {
    Shape s(pick(lo, hi));
    for (auto& v : s) v = value();
    return s;
  }
  // A size: mostly 0..4, sometimes -1 or huge.
  int64_t size() { return pick(0, 7) == 0 ? value() : pick(0, 4); }
  Shape shape(int64_t max_dims) {
    Shape s(pick(0, max_dims));
    for (auto& v : s) v = pick(0, 5) == 0 ? 0 : pick(1, 4);
    return s;
  }

 private:
  std::mt19937_64 rng_;
};

// The input: distinct values 1..n, sometimes laid out transposed (same values, other strides).
std::pair<Tensor, Ref> make_input(Args& args) {
  Ref r{args.shape(4), {}};
  const int64_t n = *count(r.shape);
  for (int64_t i = 0; i < n; ++i) r.v.push_back(static_cast<double>(i + 1));
  Tensor t = mg::tensor(r.v, r.shape);
  if (r.shape.size() >= 2 && args.pick(0, 1) == 1)
    t = t.transpose(0, -1).contiguous().transpose(0, -1);
  return {t, r};
}

std::string describe(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

// Runs the op and compares with the reference; `what` names the call for the failure message.
void check(const std::string& what, const Expected& want, const std::function<Tensor()>& run) {
  Tensor got;
  try {
    got = run();
  } catch (const mg::Error& e) {
    if (want && *count(want->shape) < kMayNotFit)
      ADD_FAILURE() << what << " raised \"" << e.what() << "\" but PyTorch gives shape "
                    << describe(want->shape);
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << " raised a non-mixgrad exception: " << e.what();
    return;
  }
  if (!want) {
    ADD_FAILURE() << what << " returned shape " << describe(got.shape()) << " where PyTorch raises";
    return;
  }
  ASSERT_EQ(got.shape(), want->shape) << what;
  if (*count(want->shape) > kCompareLimit) return;
  EXPECT_EQ(got.to_vector<double>(), want->v) << what;
}

}  // namespace

TEST(OpInputFuzz, ViewOpsGiveThePyTorchResultOrAnError) {
  for (uint64_t seed = 0; seed < 20000; ++seed) {
    Args args(seed);
    const auto input = make_input(args);  // no structured binding: lambdas capture these
    const Tensor& x = input.first;
    const Ref& ref = input.second;
    const std::string in = "seed " + std::to_string(seed) + ", x " + describe(ref.shape) + ": ";
    const int64_t a = args.value(), b = args.value(), c = args.value();
    switch (args.pick(0, 12)) {
      case 0:
        check(in + "narrow(" + std::to_string(a) + ", " + std::to_string(b) + ", " +
                  std::to_string(c) + ")",
              ref_narrow(ref, a, b, c), [&] { return x.narrow(a, b, c); });
        break;
      case 1:
        check(in + "select(" + std::to_string(a) + ", " + std::to_string(b) + ")",
              ref_select(ref, a, b), [&] { return x.select(a, b); });
        break;
      case 2: {
        const int64_t step = args.value();
        check(in + "slice(" + std::to_string(a) + ", " + std::to_string(b) + ", " +
                  std::to_string(c) + ", " + std::to_string(step) + ")",
              ref_slice(ref, a, b, c, step), [&] { return mg::slice(x, a, b, c, step); });
        break;
      }
      case 3: {
        Shape target(args.pick(0, 5));
        for (auto& s : target) s = args.pick(0, 2) == 0 ? -1 : args.size();
        check(in + "expand(" + describe(target) + ")", ref_expand(ref, target),
              [&] { return x.expand(target); });
        break;
      }
      case 4: {
        const Shape dims = args.pick(0, 2) == 0 ? args.values(0, 5) : [&] {
          Shape p(ref.shape.size());
          for (size_t i = 0; i < p.size(); ++i)
            p[i] = static_cast<int64_t>(i) - args.pick(0, 1) * static_cast<int64_t>(p.size());
          std::shuffle(p.begin(), p.end(), std::mt19937_64(a));
          return p;
        }();
        check(in + "permute(" + describe(dims) + ")", ref_permute(ref, dims),
              [&] { return x.permute(dims); });
        break;
      }
      case 5:
        check(in + "transpose(" + std::to_string(a) + ", " + std::to_string(b) + ")",
              ref_transpose(ref, a, b), [&] { return x.transpose(a, b); });
        break;
      case 6: {
        Shape shape(args.pick(0, 4));
        for (auto& s : shape) s = args.pick(0, 3) == 0 ? -1 : args.size();
        check(in + "reshape(" + describe(shape) + ")", ref_reshape(ref, shape),
              [&] { return x.reshape(shape); });
        // view: the reshape's result where the layout allows it, an Error where it does not.
        const Expected viewed = ref_reshape(ref, shape);
        try {
          Tensor v = x.view(shape);
          check(in + "view(" + describe(shape) + ")", viewed, [&] { return v; });
        } catch (const mg::Error&) {
        }
        break;
      }
      case 7:
        check(in + "squeeze(" + std::to_string(a) + ")", ref_squeeze(ref, a),
              [&] { return x.squeeze(a); });
        break;
      case 8:
        check(in + "unsqueeze(" + std::to_string(a) + ")", ref_unsqueeze(ref, a),
              [&] { return x.unsqueeze(a); });
        break;
      case 9:
        check(in + "flatten(" + std::to_string(a) + ", " + std::to_string(b) + ")",
              ref_flatten(ref, a, b), [&] { return x.flatten(a, b); });
        break;
      case 10: {
        Shape sizes(args.pick(0, 3));
        for (auto& s : sizes) s = args.pick(0, 3) == 0 ? -1 : args.size();
        check(in + "unflatten(" + std::to_string(a) + ", " + describe(sizes) + ")",
              ref_unflatten(ref, a, sizes), [&] { return mg::unflatten(x, a, sizes); });
        break;
      }
      case 11:
        check(in + "diagonal(" + std::to_string(a) + ", " + std::to_string(b) + ", " +
                  std::to_string(c) + ")",
              ref_diagonal(ref, a, b, c), [&] { return mg::diagonal(x, a, b, c); });
        break;
      case 12: {
        Shape repeats = args.values(0, 5);
        for (auto& r : repeats)
          if (args.pick(0, 1) == 0) r = args.pick(0, 3);
        check(in + "repeat(" + describe(repeats) + ")", ref_repeat(ref, repeats),
              [&] { return mg::repeat(x, repeats); });
        break;
      }
    }
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(OpInputFuzz, IndexOpsGiveThePyTorchResultOrAnError) {
  for (uint64_t seed = 0; seed < 10000; ++seed) {
    Args args(seed);
    const auto input = make_input(args);  // no structured binding: lambdas capture these
    const Tensor& x = input.first;
    const Ref& ref = input.second;
    const std::string in = "seed " + std::to_string(seed) + ", x " + describe(ref.shape) + ": ";
    const int64_t dim = args.pick(0, 3) == 0 ? args.value() : args.pick(-3, 3);
    // index_select of a 0-dim input is left out: PyTorch's result shape there is not settled.
    if (args.pick(0, 1) == 0 && !ref.shape.empty()) {
      std::vector<int64_t> index(args.pick(0, 5));
      for (auto& i : index) i = args.pick(0, 3) == 0 ? args.value() : args.pick(0, 3);
      check(in + "index_select(" + std::to_string(dim) + ", " + describe(index) + ")",
            ref_index_select(ref, dim, index), [&] {
              return mg::index_select(x, dim,
                                      mg::tensor(index, Shape{static_cast<int64_t>(index.size())}));
            });
    } else {
      Ref index{ref.shape, {}};
      for (auto& s : index.shape) s = args.pick(0, 3) == 0 ? args.pick(0, s + 1) : s;
      if (args.pick(0, 5) == 0 && !index.shape.empty()) index.shape.pop_back();
      const int64_t n = *count(index.shape);
      for (int64_t k = 0; k < n; ++k)
        index.v.push_back(
            static_cast<double>(args.pick(0, 3) == 0 ? args.value() : args.pick(0, 3)));
      std::vector<int64_t> raw(index.v.begin(), index.v.end());
      check(in + "gather(" + std::to_string(dim) + ", index " + describe(index.shape) + " " +
                describe(raw) + ")",
            ref_gather(ref, dim, index),
            [&] { return mg::gather(x, dim, mg::tensor(raw, index.shape)); });
    }
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(OpInputFuzz, CreationOpsGiveThePyTorchResultOrAnError) {
  for (uint64_t seed = 0; seed < 10000; ++seed) {
    Args args(seed);
    const std::string in = "seed " + std::to_string(seed) + ": ";
    switch (args.pick(0, 3)) {
      case 0: {
        Shape shape(args.pick(0, 4));
        for (auto& s : shape) s = args.size();
        const auto n = count(shape);
        if (n && *n > kCompareLimit) break;  // valid but too large to fill here
        check(in + "full(" + describe(shape) + ", 7)",
              n ? Expected(Ref{shape, std::vector<double>(*n, 7.0)}) : std::nullopt,
              [&] { return mg::full(shape, 7.0); });
        break;
      }
      case 1: {
        const int64_t start = args.value(), end = args.value(), step = args.value();
        Expected want;
        if (step != 0 && ((step > 0 && end >= start) || (step < 0 && end <= start))) {
          // The exact length, in __int128: end - start may leave int64.
          const __int128 span = static_cast<__int128>(end) - start;
          const __int128 len = (span + step + (step > 0 ? -1 : 1)) / step;
          if (len > kCompareLimit) break;  // valid but large, or beyond int64: not compared
          Ref r{{static_cast<int64_t>(len)}, {}};
          for (int64_t i = 0; i < r.shape[0]; ++i)
            r.v.push_back(static_cast<double>(static_cast<__int128>(start) +
                                              i * static_cast<__int128>(step)));
          want = r;
        }
        check(in + "arange(" + std::to_string(start) + ", " + std::to_string(end) + ", " +
                  std::to_string(step) + ")",
              want, [&] { return mg::arange(start, end, step); });
        break;
      }
      case 2: {
        const int64_t n = args.size(), m = args.size();
        Expected want;
        if (n >= 0 && m >= 0 && count({n, m})) {
          if (*count({n, m}) > kCompareLimit) break;
          want = build({n, m}, [](const Shape& i) { return i[0] == i[1] ? 1.0 : 0.0; });
        }
        check(in + "eye(" + std::to_string(n) + ", " + std::to_string(m) + ")", want,
              [&] { return mg::eye(n, m); });
        break;
      }
      case 3: {
        const int64_t steps = args.size();
        Expected want;
        if (steps >= 0) {
          if (steps > kCompareLimit) break;
          want = build({steps}, [steps](const Shape& i) {
            // mixgrad's formula (start + i * step, rounded to float32): the arguments are the
            // point here, not linspace's last-bit rounding.
            const double step = steps > 1 ? 2.0 / static_cast<double>(steps - 1) : 0.0;
            return static_cast<double>(static_cast<float>(static_cast<double>(i[0]) * step));
          });
        }
        check(in + "linspace(0, 2, " + std::to_string(steps) + ")", want,
              [&] { return mg::linspace(0, 2, steps); });
        break;
      }
    }
  }
}
