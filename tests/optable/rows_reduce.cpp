// Rows of the reductions, scans, softmax and sorting, with the large sizes that take the
// backends' other paths: a 1,000,000-element cumsum, 65,536-wide softmax rows, top-k over
// 100,000 columns and the MoE gating shapes.
#include "optable/row_builder.h"

namespace mixgrad::testing {
namespace {

using UnaryFn = std::function<Tensor(const Tensor&)>;

// `op` over a dense [3, 4, 5] input, its transposed and strided views, and an empty one unless
// the op needs a non-empty dim.
OpInfo row(std::string name, UnaryFn op, Tol tol, bool with_empty = true) {
  OpInfo r;
  r.name = std::move(name);
  r.fn = [op = std::move(op)](In in) { return op(in[0]); };
  r.samples = layout_samples(normal, with_empty);
  r.tol = tol;
  return r;
}

// Discrete results (indices, bools): compared, never differentiated.
OpInfo indices_row(std::string name, UnaryFn op, bool with_empty = false) {
  OpInfo r = row(std::move(name), std::move(op), kExact, with_empty);
  r.differentiable = false;
  return r;
}

void add(std::vector<OpInfo>& rows, OpInfo r, std::vector<Sample> more) {
  r.samples.insert(r.samples.end(), more.begin(), more.end());
  rows.push_back(std::move(r));
}

std::vector<OpInfo> reduce_rows() {
  std::vector<OpInfo> rows;
  add(rows,
      row(
          "sum", [](const Tensor& x) { return sum(x); }, kReduce),
      {{"0-dim", {normal({})}}, {"int64", {index({7, 9}, 1000)}}, {"bool", {mask({7, 9})}}});
  add(rows,
      row(
          "sum/dim1", [](const Tensor& x) { return sum(x, {1}); }, kReduce),
      {{"int64", {index({7, 9}, 1000)}}, {"bool", {mask({7, 9})}}});
  runs_in_half(rows.back(), kHalfTol, kBFloat16Tol);
  add(rows,
      row(
          "sum/dims02_keepdim",
          [](const Tensor& x) {
            return sum(x, {0, 2}, true);
          },
          kReduce),
      {});
  add(rows,
      row(
          "sum/last", [](const Tensor& x) { return sum(x, {-1}); }, kReduce),
      {{"wide_rows", {normal({4, 300001})}, kLargeReduce},
       {"tall_cols", {transposed(normal({3, 100003}))}, kLargeReduce}});
  add(rows,
      row(
          "mean", [](const Tensor& x) { return mean(x); }, kReduce),
      {{"0-dim", {normal({})}}});
  runs_in_half(rows.back(), kHalfTol, kBFloat16Tol);
  add(rows,
      row(
          "mean/dim1", [](const Tensor& x) { return mean(x, {1}); }, kReduce),
      {});
  add(rows,
      row(
          "mean/dims12_keepdim",
          [](const Tensor& x) {
            return mean(x, {1, 2}, true);
          },
          kReduce),
      {});
  add(rows,
      row(
          "prod/dim2", [](const Tensor& x) { return prod(x, {2}); }, kReduce),
      {});
  add(rows,
      row(
          "prod", [](const Tensor& x) { return prod(x); }, kReduce),
      {});
  add(rows,
      row(
          "norm/p2", [](const Tensor& x) { return norm(x, 2.0, {2}); }, kReduce),
      {});
  add(rows,
      row(
          "norm/p1", [](const Tensor& x) { return norm(x, 1.0, {0}); }, kReduce),
      {});
  add(rows,
      row(
          "norm/all", [](const Tensor& x) { return norm(x); }, kReduce),
      {});
  // Reductions that need a non-empty dim.
  add(rows,
      row(
          "amax/dim1", [](const Tensor& x) { return amax(x, {1}); }, kExact, false),
      {{"int32", {index({7, 9}, 1000, kInt32)}}});
  runs_in_half(rows.back(), kExact, kExact);
  add(rows,
      row(
          "amin/dims02_keepdim",
          [](const Tensor& x) {
            return amin(x, {0, 2}, true);
          },
          kExact, false),
      {});
  add(rows,
      row(
          "max", [](const Tensor& x) { return max(x); }, kExact, false),
      {});
  add(rows,
      row(
          "min", [](const Tensor& x) { return min(x); }, kExact, false),
      {});
  add(rows,
      row(
          "max/dim2_values", [](const Tensor& x) { return max(x, 2).values; }, kExact, false),
      {});
  add(rows,
      indices_row("max/dim0_indices", [](const Tensor& x) { return max(x, 0, true).indices; }),
      {{"ties", {index({40, 6}, 3)}}});
  add(rows,
      row(
          "min/dim1_values", [](const Tensor& x) { return min(x, 1).values; }, kExact, false),
      {});
  add(rows, indices_row("min/dim1_indices", [](const Tensor& x) { return min(x, 1).indices; }), {});
  add(rows, indices_row("argmax", [](const Tensor& x) { return argmax(x); }), {});
  add(rows, indices_row("argmax/dim1", [](const Tensor& x) { return argmax(x, 1); }),
      {{"ties", {index({6, 40}, 3)}}});
  add(rows, indices_row("argmin/dim2", [](const Tensor& x) { return argmin(x, 2); }), {});
  add(rows,
      row(
          "var/dim1", [](const Tensor& x) { return var(x, {1}); }, kReduce, false),
      {});
  add(rows,
      row(
          "var", [](const Tensor& x) { return var(x); }, kReduce, false),
      {});
  add(rows,
      row(
          "std/dim2", [](const Tensor& x) { return mixgrad::std(x, {2}, 0); }, kReduce, false),
      {});
  add(rows,
      row(
          "logsumexp/dim2", [](const Tensor& x) { return logsumexp(x, {2}); }, kReduce, false),
      {{"wide", {normal({2, 3, 300})}}});
  // any / all: of bools, and of floats (non-zero counts as true).
  for (auto [name, op] :
       {std::pair{"any", UnaryFn([](const Tensor& x) { return any(x, {1}); })},
        std::pair{"all", UnaryFn([](const Tensor& x) { return all(x, {0}); })},
        std::pair{"any/all_dims", UnaryFn([](const Tensor& x) { return any(x); })}}) {
    OpInfo r = indices_row(name, op);
    r.samples = {{"bool", {mask({5, 6})}},
                 {"float", {index({5, 6}, 2, kFloat64)}},
                 {"strided", {strided(mask({5, 6}))}},
                 {"empty", {mask({0, 6})}}};
    rows.push_back(std::move(r));
  }
  row_named(rows, "mean/dim1").composite = [](In in) {
    return sum(in[0], {1}) / double(in[0].size(1));
  };
  row_named(rows, "norm/p2").composite = [](In in) { return sqrt(sum(square(in[0]), {2})); };
  row_named(rows, "norm/p1").composite = [](In in) { return sum(abs(in[0]), {0}); };
  row_named(rows, "norm/all").composite = [](In in) { return sqrt(sum(square(in[0]))); };
  row_named(rows, "logsumexp/dim2").composite = [](In in) { return log(sum(exp(in[0]), {2})); };
  row_named(rows, "std/dim2").composite = [](In in) {
    return sqrt(mean(square(in[0] - mean(in[0], {2}, true)), {2}));
  };
  row_named(rows, "var/dim1").composite = [](In in) {
    const double n = double(in[0].size(1));
    return sum(square(in[0] - mean(in[0], {1}, true)), {1}) / (n - 1);
  };
  // Long sums, where an accumulator in half precision would show (the half suite runs them).
  row_named(rows, "sum/dim1").samples.push_back({"long", {normal({8, 1000})}});
  row_named(rows, "mean").samples.push_back({"long", {normal({8, 1000})}});
  return rows;
}

std::vector<OpInfo> scan_rows() {
  std::vector<OpInfo> rows;
  for (int64_t d = 0; d < 3; ++d)
    add(rows,
        row(
            "cumsum/dim" + std::to_string(d), [d](const Tensor& x) { return cumsum(x, d); },
            kReduce),
        {});
  row_named(rows, "cumsum/dim0")
      .samples.insert(row_named(rows, "cumsum/dim0").samples.end(),
                      {{"int64", {index({6, 9}, 1000)}},
                       {"bool", {mask({6, 9})}},
                       {"1e6", {normal({1000000})}, kLargeReduce},
                       {"1e6_strided", {strided(normal({1000000}))}, kLargeReduce},
                       {"1e6_int64", {index({1000000}, 1 << 20)}}});
  row_named(rows, "cumsum/dim1").samples.push_back({"long", {normal({4, 100})}});
  row_named(rows, "cumsum/dim1").samples.push_back({"int64", {index({6, 9}, 1000)}});
  runs_in_half(row_named(rows, "cumsum/dim1"), kHalfTol, kBFloat16Tol);
  // The other scans run on the CPU only so far (ops/scan.h). One cumprod row zeroes the inputs
  // below 0.3 in magnitude (about a quarter), so the gradient's zero handling is checked too.
  const auto cpu_only = [&](OpInfo r, std::vector<Sample> more) {
    r.cuda = false;
    add(rows, std::move(r), std::move(more));
  };
  cpu_only(row(
               "cumprod/dim1", [](const Tensor& x) { return cumprod(x, 1); }, kReduce),
           {{"int64", {index({6, 9}, 5)}}});
  cpu_only(row(
               "cumprod/with_zeros",
               [](const Tensor& x) {
                 return cumprod(where(lt(abs(x), 0.3), zeros({}, kFloat64).to(x.dtype()), x), -1);
               },
               kReduce),
           {});
  cpu_only(row(
               "cumprod/dim0", [](const Tensor& x) { return cumprod(x, 0); }, kReduce),
           {});
  for (auto [name, dim] : {std::pair{"/dim2", 2}, std::pair{"/dim0", 0}}) {
    const int64_t d = dim;
    cpu_only(row(
                 std::string("cummax") + name, [d](const Tensor& x) { return cummax(x, d).values; },
                 kExact),
             {{"ties", {index({5, 6, 7}, 3)}}});
    cpu_only(indices_row(
                 std::string("cummax/indices") + name,
                 [d](const Tensor& x) { return cummax(x, d).indices; }, true),
             {{"ties", {index({5, 6, 7}, 3)}}});
    cpu_only(row(
                 std::string("cummin") + name, [d](const Tensor& x) { return cummin(x, d).values; },
                 kExact),
             {{"ties", {index({5, 6, 7}, 3)}}});
    cpu_only(indices_row(
                 std::string("cummin/indices") + name,
                 [d](const Tensor& x) { return cummin(x, d).indices; }, true),
             {{"ties", {index({5, 6, 7}, 3)}}});
    cpu_only(row(
                 std::string("logcumsumexp") + name,
                 [d](const Tensor& x) { return logcumsumexp(x, d); }, kReduce),
             {});
  }
  for (const char* name : {"logcumsumexp/dim2", "logcumsumexp/dim0"}) {
    const int64_t d = std::string(name).back() - '0';
    row_named(rows, name).composite = [d](In in) { return log(cumsum(exp(in[0]), d)); };
  }
  cpu_only(row(
               "logcumsumexp/large", [](const Tensor& x) { return logcumsumexp(x * 500.0, -1); },
               kReduce),
           {{"0-dim", {normal({})}}, {"long", {normal({3, 5000})}}});
  return rows;
}

std::vector<OpInfo> softmax_rows() {
  std::vector<OpInfo> rows;
  for (int64_t d : {-1, 0, 1}) {
    const std::string n = "/dim" + std::to_string(d);
    add(rows,
        row(
            "softmax" + n, [d](const Tensor& x) { return softmax(x, d); }, kReduce),
        {});
    add(rows,
        row(
            "log_softmax" + n, [d](const Tensor& x) { return log_softmax(x, d); }, kReduce),
        {});
  }
  OpInfo& soft = row_named(rows, "softmax/dim-1");
  OpInfo& log_soft = row_named(rows, "log_softmax/dim-1");
  soft.samples.push_back({"65536", {normal({3, 65536})}, kLargeReduce});
  soft.samples.push_back({"many_rows", {normal({20000, 37})}});
  soft.samples.push_back({"513", {normal({8, 513})}});
  log_soft.samples.push_back({"65536", {normal({2, 65536})}, kLargeReduce});
  runs_in_half(soft, kHalfChainTol, kBFloat16ChainTol);
  runs_in_half(log_soft, kHalfChainTol, kBFloat16ChainTol);
  for (int64_t d : {-1, 0, 1}) {
    const std::string n = "/dim" + std::to_string(d);
    row_named(rows, "softmax" + n).composite = [d](In in) {
      return exp(in[0] - logsumexp(in[0], {d}, true));
    };
    row_named(rows, "log_softmax" + n).composite = [d](In in) {
      return in[0] - logsumexp(in[0], {d}, true);
    };
  }
  add(rows,
      row(
          "softmax/scaled", [](const Tensor& x) { return softmax(x * 4.0, -1); }, kReduce),
      {{"65536", {normal({3, 65536})}, kLargeReduce}});
  // Large logits: the running max must keep exp from overflowing.
  add(rows,
      row(
          "softmax/large_logits", [](const Tensor& x) { return softmax(x * 1000.0, -1); }, kReduce),
      {});
  return rows;
}

std::vector<OpInfo> sort_rows() {
  std::vector<OpInfo> rows;
  for (bool desc : {false, true}) {
    const std::string n = desc ? "/desc" : "/asc";
    add(rows,
        row(
            "sort/values" + n, [desc](const Tensor& x) { return sort(x, -1, desc).values; },
            kExact),
        {{"ties", {index({7, 500}, 4, kInt32)}}, {"wide", {normal({3, 200003})}}});
    add(rows,
        indices_row(
            "sort/indices" + n, [desc](const Tensor& x) { return sort(x, 1, desc).indices; }, true),
        {});
    add(rows,
        indices_row(
            "argsort" + n, [desc](const Tensor& x) { return argsort(x, 0, desc); }, true),
        {{"wide", {transposed(normal({100000, 2}))}}});
    // Unstable, along a contiguous last dim wide enough for the device-wide sort.
    OpInfo last = indices_row(
        "argsort/last" + n, [desc](const Tensor& x) { return argsort(x, -1, desc); }, true);
    last.samples.push_back({"wide", {normal({2, 100000})}});
    rows.push_back(std::move(last));
    // With many equal keys only a stable sort fixes the indices.
    OpInfo stable = indices_row(
        "argsort/stable" + n, [desc](const Tensor& x) { return argsort(x, -1, desc, true); }, true);
    stable.samples.push_back({"ties", {index({7, 500}, 4)}});
    stable.samples.push_back({"1d_ties", {index({300000}, 1000)}});
    rows.push_back(std::move(stable));
  }
  runs_in_half(row_named(rows, "sort/values/desc"), kExact, kExact);

  for (bool largest : {true, false}) {
    const std::string n = largest ? "/largest" : "/smallest";
    const auto values = [largest](int64_t k, int64_t dim) {
      return [=](const Tensor& x) { return topk(x, k, dim, largest).values; };
    };
    const auto indices = [largest](int64_t k, int64_t dim) {
      return [=](const Tensor& x) { return topk(x, k, dim, largest).indices; };
    };
    // The MoE gating shapes: narrow rows, small k, many rows, non-power-of-two widths; wide rows
    // go through the segmented radix sort.
    std::vector<Sample> gating;
    for (int64_t experts : {8, 60, 64, 256})
      gating.push_back({"moe_E" + std::to_string(experts), {normal({4099, experts})}});
    gating.push_back({"100000", {normal({3, 100000})}});
    OpInfo v = row("topk/values_k3" + n, values(3, -1), kExact, false);
    v.samples.insert(v.samples.end(), gating.begin(), gating.end());
    v.samples.push_back({"ties", {index({5, 300}, 3)}});
    rows.push_back(std::move(v));
    OpInfo v1 = row("topk/values_k1" + n, values(1, -1), kExact, false);
    v1.samples = gating;
    v1.samples.push_back({"small", {normal({4, 6})}});
    rows.push_back(std::move(v1));
    OpInfo i2 = indices_row("topk/indices_k2" + n, indices(2, -1));
    i2.samples.insert(i2.samples.end(), gating.begin(), gating.end());
    rows.push_back(std::move(i2));
    // Many winners per row take the radix sort's other path.
    OpInfo many = row("topk/values_k1000" + n, values(1000, -1), kExact, false);
    many.samples = {{"100000", {normal({3, 100000})}}};
    many.differentiable = false;  // too wide for gradcheck; the gradient is values_k3's
    rows.push_back(std::move(many));
    OpInfo v8 = row("topk/values_k8" + n, values(8, -1), kExact, false);
    v8.samples = gating;
    v8.samples.push_back({"small", {normal({3, 9})}});
    rows.push_back(std::move(v8));
    for (int64_t k : {1, 8}) {
      OpInfo ik = indices_row("topk/indices_k" + std::to_string(k) + n, indices(k, -1));
      ik.samples = gating;
      rows.push_back(std::move(ik));
    }
    for (int64_t k : {10, 1000}) {
      OpInfo wide = indices_row("topk/indices_k" + std::to_string(k) + "_wide" + n, indices(k, -1));
      wide.samples = {{"100000", {normal({3, 100000})}}};
      rows.push_back(std::move(wide));
    }
    OpInfo v10 = row("topk/values_k10" + n, values(10, -1), kExact, false);
    v10.samples = {{"100000", {normal({3, 100000})}}, {"small", {normal({2, 12})}}};
    rows.push_back(std::move(v10));
    add(rows, row("topk/values_k0" + n, values(0, -1), kExact, true), {});
    add(rows, indices_row("topk/indices_all" + n, indices(5, -1)), {});
    add(rows, indices_row("topk/indices_dim1" + n, indices(2, 1)), {});
  }
  OpInfo& top = row_named(rows, "topk/values_k3/largest");
  runs_in_half(top, kExact, kExact);
  // sorted = false leaves the order open: compare the selected set.
  OpInfo unsorted = row(
      "topk/unsorted",
      [](const Tensor& x) { return sort(topk(x, 17, -1, true, false).values, -1).values; }, kExact,
      false);
  unsorted.samples = {{"1000", {normal({6, 1000})}}, {"strided", {strided(normal({6, 40}))}}};
  rows.push_back(std::move(unsorted));
  return rows;
}

}  // namespace

std::vector<OpInfo> reduction_rows() {
  return join_rows({reduce_rows, scan_rows, softmax_rows, sort_rows});
}

}  // namespace mixgrad::testing
