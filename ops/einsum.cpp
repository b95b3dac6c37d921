// einsum: parses the equation into per-dim labels, then lowers it to diagonal / sum / permute /
// reshape / matmul / mul (see ops/einsum.h for the cost model). No backward of its own: autograd
// records the composed ops.
#include "ops/einsum.h"

#include <algorithm>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/reduce.h"
#include "ops/view.h"

namespace mixgrad {

namespace {

// Labels: 0..25 are 'A'..'Z', 26..51 'a'..'z' (ASCII order, which the implicit output uses);
// kLetters + j is dim j of the broadcast `...` (counted from its left).
constexpr int kLetters = 52;

bool is_letter(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

int letter_label(char c) {
  return c <= 'Z' ? c - 'A' : 26 + (c - 'a');
}

std::string label_name(int label) {
  if (label >= kLetters) return "'...' dim " + std::to_string(label - kLetters);
  const char c = static_cast<char>(label < 26 ? 'A' + label : 'a' + (label - 26));
  return std::string("letter '") + c + "'";
}

// The equation and operand shapes, appended to every error (built only on failure).
class Context {
 public:
  Context(std::string_view equation, std::span<const Tensor> operands)
      : equation_(equation), operands_(operands) {}

  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw Error("einsum", detail::concat(parts...) + where());
  }
  // Callers whose message parts cost something to build test `cond` themselves and call fail.
  template <class... Parts>
  void check(bool cond, const Parts&... parts) const {
    if (!cond) fail(parts...);
  }

 private:
  std::string where() const {
    std::string s = " (equation \"" + std::string(equation_) + "\", operand shapes ";
    for (size_t i = 0; i < operands_.size(); ++i) {
      if (i > 0) s += ", ";
      s += operands_[i].defined() ? detail::to_str(operands_[i].shape()) : "undefined";
    }
    if (operands_.empty()) s += "none";
    return s + ")";
  }

  std::string_view equation_;
  std::span<const Tensor> operands_;
};

// One term of the equation: its letters' labels in order, and where `...` sits among them.
struct Subscript {
  std::vector<int> letters;
  std::optional<size_t> ellipsis_at;
};

// Parses `text`, which starts at `pos` in the equation (for error positions).
Subscript parse_subscript(std::string_view text, size_t pos, const std::string& what,
                          const Context& ctx) {
  Subscript sub;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ') continue;
    if (is_letter(c)) {
      sub.letters.push_back(letter_label(c));
      continue;
    }
    if (c != '.')
      ctx.fail("invalid character '", std::string(1, c), "' at position ", pos + i, " in ", what,
               "; subscripts use letters a-z, A-Z and '...'");
    ctx.check(text.substr(i, 3) == "...", "'.' at position ", pos + i, " in ", what,
              " is not part of '...'");
    ctx.check(!sub.ellipsis_at.has_value(), what, " has more than one '...'");
    sub.ellipsis_at = sub.letters.size();
    i += 2;
  }
  return sub;
}

struct Equation {
  std::vector<Subscript> inputs;
  std::optional<Subscript> output;  // nullopt: implicit output
};

Equation parse_equation(std::string_view eq, const Context& ctx) {
  const size_t arrow = eq.find("->");
  const std::string_view lhs = eq.substr(0, arrow);
  const std::string_view rhs = arrow == std::string_view::npos ? "" : eq.substr(arrow + 2);
  const auto stray = [](std::string_view s) { return s.find_first_of("->") != s.npos; };
  ctx.check(!stray(lhs) && !stray(rhs), "'->' is malformed or appears more than once");
  Equation parsed;
  size_t start = 0;
  for (;;) {
    const size_t comma = lhs.find(',', start);
    const std::string_view term = lhs.substr(start, comma - start);
    const std::string what = "the subscript of operand " + std::to_string(parsed.inputs.size());
    parsed.inputs.push_back(parse_subscript(term, start, what, ctx));
    if (comma == lhs.npos) break;
    start = comma + 1;
  }
  if (arrow != std::string_view::npos) {
    ctx.check(rhs.find(',') == rhs.npos, "the output subscript cannot contain ','");
    parsed.output = parse_subscript(rhs, arrow + 2, "the output subscript", ctx);
  }
  return parsed;
}

// An operand (or intermediate result) with the label of each of its dims.
struct Labeled {
  Tensor t;
  std::vector<int> labels;
};

// Position of `label` in x's dims, or -1.
int64_t dim_of(const Labeled& x, int label) {
  const auto it = std::find(x.labels.begin(), x.labels.end(), label);
  return it == x.labels.end() ? -1 : it - x.labels.begin();
}

bool has(const Labeled& x, int label) {
  return dim_of(x, label) >= 0;
}

// x's dims that carry `labels`, in that order.
Shape dims_of(const Labeled& x, const std::vector<int>& labels) {
  Shape dims;
  for (int label : labels) dims.push_back(dim_of(x, label));
  return dims;
}

// `labels` sorted by how x lays them out in memory (largest stride first; ties keep order).
std::vector<int> in_memory_order(const Labeled& x, std::vector<int> labels) {
  std::stable_sort(labels.begin(), labels.end(), [&x](int a, int b) {
    return x.t.stride(dim_of(x, a)) > x.t.stride(dim_of(x, b));
  });
  return labels;
}

// Reorders x's dims to `labels` (a permutation of its labels); a view.
Labeled permuted(const Labeled& x, const std::vector<int>& labels) {
  if (labels == x.labels) return x;
  return {permute(x.t, dims_of(x, labels)), labels};
}

// Sums x over `labels` (a subset of its labels), keeping x's dtype (sum widens int32).
// Size-1 dims are squeezed instead, a view.
void sum_out(Labeled& x, const std::vector<int>& labels) {
  if (labels.empty()) return;
  std::vector<int> kept;
  Shape kept_shape;
  for (size_t d = 0; d < x.labels.size(); ++d) {
    if (std::find(labels.begin(), labels.end(), x.labels[d]) != labels.end()) continue;
    kept.push_back(x.labels[d]);
    kept_shape.push_back(x.t.size(static_cast<int64_t>(d)));
  }
  if (numel_of(kept_shape) == x.t.numel()) {
    x.t = reshape(x.t, kept_shape);
  } else {
    const DType dtype = x.t.dtype();
    x.t = sum(x.t, dims_of(x, labels));
    if (x.t.dtype() != dtype) x.t = x.t.to(dtype);
  }
  x.labels = std::move(kept);
}

Shape sizes_of(const Labeled& x, const std::vector<int>& labels) {
  Shape sizes;
  for (int label : labels) sizes.push_back(x.t.size(dim_of(x, label)));
  return sizes;
}

// Whether x, permuted to `order`, reshapes to `merged` without a copy.
bool reshapes_as_view(const Labeled& x, const std::vector<int>& order, const Shape& merged) {
  Shape strides;
  for (int label : order) strides.push_back(x.t.stride(dim_of(x, label)));
  bool ok = false;
  view_strides(sizes_of(x, order), strides, merged, ok);
  return ok;
}

// Label groups of a pairwise contraction; the order within each group is the layout used.
struct Groups {
  std::vector<int> batch, left, summed, right;
};

// Shape of x's dims `batch`, then the product of the `rows` sizes, then that of the `cols`.
Shape matrices_shape(const Labeled& x, const std::vector<int>& batch, const std::vector<int>& rows,
                     const std::vector<int>& cols) {
  Shape shape = sizes_of(x, batch);
  shape.push_back(numel_of(sizes_of(x, rows)));
  shape.push_back(numel_of(sizes_of(x, cols)));
  return shape;
}

std::vector<int> joined(std::initializer_list<const std::vector<int>*> groups) {
  std::vector<int> out;
  for (const std::vector<int>* g : groups) out.insert(out.end(), g->begin(), g->end());
  return out;
}

// x as a batch of matrices [batch..., rows, cols] (a view unless the layout forbids it).
Tensor as_matrices(const Labeled& x, const std::vector<int>& batch, const std::vector<int>& rows,
                   const std::vector<int>& cols) {
  return reshape(permuted(x, joined({&batch, &rows, &cols})).t,
                 matrices_shape(x, batch, rows, cols));
}

// The order of the summed letters: the left operand's layout, unless the right operand's
// layout lets more elements be used in place.
std::vector<int> summed_order(const Labeled& a, const Labeled& b, const Groups& g) {
  const auto copied = [&](const std::vector<int>& summed) {
    int64_t n = 0;
    if (!reshapes_as_view(a, joined({&g.batch, &g.left, &summed}),
                          matrices_shape(a, g.batch, g.left, summed)))
      n += a.t.numel();
    if (!reshapes_as_view(b, joined({&g.batch, &summed, &g.right}),
                          matrices_shape(b, g.batch, summed, g.right)))
      n += b.t.numel();
    return n;
  };
  std::vector<int> by_a = in_memory_order(a, g.summed), by_b = in_memory_order(b, g.summed);
  return copied(by_b) < copied(by_a) ? by_b : by_a;
}

// x with its dims in the order of `labels` (a superset of its own), with size 1 for those it
// lacks, so that operands aligned to the same labels broadcast against each other.
Tensor aligned(const Labeled& x, const std::vector<int>& labels) {
  std::vector<int> order;
  Shape shape;
  for (int label : labels) {
    const int64_t d = dim_of(x, label);
    if (d >= 0) order.push_back(label);
    shape.push_back(d >= 0 ? x.t.size(d) : 1);
  }
  return reshape(permuted(x, order).t, shape);
}

// Contracts a with b, keeping the labels in `keep` (those a later operand or the output needs)
// and summing the others. Every label of a or b is kept or in both: a label only one operand
// has is summed before any contraction unless the output needs it, and a label the running
// result carries was kept for a later operand or the output.
Labeled contract(const Labeled& a, const Labeled& b, const std::vector<bool>& keep) {
  Groups g;
  for (int label : in_memory_order(a, a.labels))
    (has(b, label) ? (keep[label] ? g.batch : g.summed) : g.left).push_back(label);
  for (int label : in_memory_order(b, b.labels))
    if (!has(a, label)) g.right.push_back(label);

  Labeled out;
  if (g.summed.empty()) {
    // Nothing to sum: one broadcasting product, laid out as a is and then b's own letters.
    const std::vector<int> a_order = in_memory_order(a, a.labels);
    out.labels = joined({&a_order, &g.right});
    out.t = mul(aligned(a, out.labels), aligned(b, out.labels));
    return out;
  }
  out.labels = joined({&g.batch, &g.left, &g.right});
  g.summed = summed_order(a, b, g);
  Shape out_shape = sizes_of(a, joined({&g.batch, &g.left}));
  for (int64_t s : sizes_of(b, g.right)) out_shape.push_back(s);
  const Tensor product =
      matmul(as_matrices(a, g.batch, g.left, g.summed), as_matrices(b, g.batch, g.summed, g.right));
  out.t = reshape(product, out_shape);
  return out;
}

// Called with at least one operand (the equation always has a subscript).
void check_operands(std::span<const Tensor> operands, const Context& ctx) {
  for (size_t i = 0; i < operands.size(); ++i) {
    ctx.check(operands[i].defined(), "operand ", i, " is undefined");
    const Tensor& first = operands[0];
    if (operands[i].dtype() != first.dtype() || operands[i].device() != first.device())
      ctx.fail("operands must share a dtype and device, but operand 0 is ", describe(first),
               " and operand ", i, " is ", describe(operands[i]));
  }
  if (operands[0].dtype() == DType::Bool)
    ctx.fail("bool operands are not supported, got ", describe(operands[0]));
}

// The labels of each operand's dims, with `...` expanded right-aligned into `ellipsis_dims`
// broadcast dims; sets ellipsis_dims.
std::vector<std::vector<int>> label_operands(const Equation& eq, std::span<const Tensor> operands,
                                             int& ellipsis_dims, const Context& ctx) {
  ellipsis_dims = 0;
  std::vector<int64_t> covered(operands.size());
  for (size_t i = 0; i < operands.size(); ++i) {
    const Subscript& sub = eq.inputs[i];
    const int64_t letters = static_cast<int64_t>(sub.letters.size()), rank = operands[i].dim();
    ctx.check(sub.ellipsis_at ? letters <= rank : letters == rank, "the subscript of operand ", i,
              " has ", letters, " letters", sub.ellipsis_at ? " and '...'" : "",
              " but the operand has ", rank, " dims");
    covered[i] = rank - letters;
    ellipsis_dims = std::max(ellipsis_dims, static_cast<int>(covered[i]));
  }
  std::vector<std::vector<int>> labels(operands.size());
  for (size_t i = 0; i < operands.size(); ++i) {
    const Subscript& sub = eq.inputs[i];
    const size_t at = sub.ellipsis_at.value_or(sub.letters.size());
    labels[i].assign(sub.letters.begin(), sub.letters.begin() + at);
    for (int64_t j = ellipsis_dims - covered[i]; j < ellipsis_dims; ++j)
      labels[i].push_back(kLetters + static_cast<int>(j));
    labels[i].insert(labels[i].end(), sub.letters.begin() + at, sub.letters.end());
  }
  return labels;
}

std::vector<int> output_labels(const Equation& eq, int ellipsis_dims, int num_labels,
                               const Context& ctx) {
  std::vector<int> count(num_labels, 0);
  for (const Subscript& sub : eq.inputs)
    for (int label : sub.letters) ++count[label];
  std::vector<int> ellipsis(ellipsis_dims);
  std::iota(ellipsis.begin(), ellipsis.end(), kLetters);
  if (!eq.output) {
    std::vector<int> out = ellipsis;
    for (int label = 0; label < kLetters; ++label)
      if (count[label] == 1) out.push_back(label);
    return out;
  }
  const Subscript& sub = *eq.output;
  std::vector<bool> seen(num_labels, false);
  for (int label : sub.letters) {
    if (count[label] == 0) ctx.fail("output ", label_name(label), " does not appear in any input");
    if (seen[label]) ctx.fail("output ", label_name(label), " appears more than once");
    seen[label] = true;
  }
  std::vector<int> out(sub.letters.begin(), sub.letters.end());
  if (sub.ellipsis_at)
    out.insert(out.begin() + static_cast<int64_t>(*sub.ellipsis_at), ellipsis.begin(),
               ellipsis.end());
  return out;
}

// The size of every label after broadcasting (size 1 gives way), checked across operands.
std::vector<int64_t> label_sizes(std::span<const Tensor> operands,
                                 const std::vector<std::vector<int>>& labels, int num_labels,
                                 const Context& ctx) {
  std::vector<int64_t> size(num_labels, 1);
  std::vector<size_t> owner(num_labels, 0);
  for (size_t i = 0; i < operands.size(); ++i) {
    for (size_t d = 0; d < labels[i].size(); ++d) {
      const int label = labels[i][d];
      const int64_t s = operands[i].size(static_cast<int64_t>(d));
      for (size_t e = 0; e < d; ++e)
        if (labels[i][e] == label && operands[i].size(static_cast<int64_t>(e)) != s)
          ctx.fail(label_name(label), " is repeated in operand ", i, " with different sizes (",
                   operands[i].size(static_cast<int64_t>(e)), " and ", s, ")");
      if (s == 1 || s == size[label]) continue;
      if (size[label] != 1)
        ctx.fail(label_name(label), " has size ", size[label], " in operand ", owner[label],
                 " but size ", s, " in operand ", i);
      size[label] = s;
      owner[label] = i;
    }
  }
  return size;
}

// The first two dims that share a label, if any.
std::optional<std::pair<int64_t, int64_t>> repeated_dims(const std::vector<int>& labels) {
  const int64_t n = static_cast<int64_t>(labels.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j)
      if (labels[i] == labels[j]) return std::pair<int64_t, int64_t>(i, j);
  return std::nullopt;
}

// Takes the diagonal for every label repeated in x (views) and squeezes the size-1 dims that
// broadcast against a larger size elsewhere, so x then has each label at most once and only
// with its full size.
void take_diagonals_and_squeeze(Labeled& x, const std::vector<int64_t>& size) {
  while (const auto dims = repeated_dims(x.labels)) {
    const int label = x.labels[dims->first];
    x.t = diagonal(x.t, 0, dims->first, dims->second);
    x.labels.erase(x.labels.begin() + dims->second);
    x.labels.erase(x.labels.begin() + dims->first);
    x.labels.push_back(label);
  }
  std::vector<int> squeezed;
  for (size_t d = 0; d < x.labels.size(); ++d)
    if (x.t.size(static_cast<int64_t>(d)) == 1 && size[x.labels[d]] != 1)
      squeezed.push_back(x.labels[d]);
  sum_out(x, squeezed);
}

}  // namespace

Tensor einsum(std::string_view equation, std::span<const Tensor> operands) {
  const Context ctx(equation, operands);
  const Equation eq = parse_equation(equation, ctx);
  ctx.check(eq.inputs.size() == operands.size(), "the equation has ", eq.inputs.size(),
            " operand subscripts but ", operands.size(), " operands were given");
  check_operands(operands, ctx);

  int ellipsis_dims = 0;
  const std::vector<std::vector<int>> labels = label_operands(eq, operands, ellipsis_dims, ctx);
  const int num_labels = kLetters + ellipsis_dims;
  const std::vector<int> out_labels = output_labels(eq, ellipsis_dims, num_labels, ctx);
  const std::vector<int64_t> size = label_sizes(operands, labels, num_labels, ctx);

  std::vector<Labeled> xs;
  for (size_t i = 0; i < operands.size(); ++i) {
    xs.push_back({operands[i], labels[i]});
    take_diagonals_and_squeeze(xs.back(), size);
  }
  // needed_after[i][label]: the output or an operand after i uses label.
  std::vector<std::vector<bool>> needed_after(xs.size(), std::vector<bool>(num_labels, false));
  for (int label : out_labels) needed_after.back()[label] = true;
  for (size_t i = xs.size() - 1; i > 0; --i) {
    needed_after[i - 1] = needed_after[i];
    for (int label : xs[i].labels) needed_after[i - 1][label] = true;
  }
  // Letters only one operand has and the output lacks are summed before any product.
  for (size_t i = 0; i < xs.size(); ++i) {
    std::vector<int> alone;
    for (int label : xs[i].labels) {
      bool elsewhere = needed_after[i][label];
      for (size_t j = 0; j < i && !elsewhere; ++j) elsewhere = has(xs[j], label);
      if (!elsewhere) alone.push_back(label);
    }
    sum_out(xs[i], alone);
  }

  Labeled result = xs[0];
  for (size_t i = 1; i < xs.size(); ++i) result = contract(result, xs[i], needed_after[i]);
  // Every output label is in the result: a label squeezed from one operand (size 1 against a
  // larger size) is kept full-size by another.
  return permuted(result, out_labels).t;
}

Tensor einsum(std::string_view equation, std::initializer_list<Tensor> operands) {
  return einsum(equation, std::span<const Tensor>(operands.begin(), operands.size()));
}

}  // namespace mixgrad
