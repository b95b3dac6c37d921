// Reductions, scans, softmax and sorting on CUDA against the CPU, including the large sizes the
// issue names: a 1,000,000-element cumsum, a 65,536-wide softmax row, top-k over 100,000 columns.
#include "cuda/cuda_test_util.h"

namespace mixgrad::cuda_testing {
namespace {

using UnaryOp = std::function<Tensor(const Tensor&)>;

OpCase on(std::string name, Arg arg, UnaryOp op, Tol tol) {
  return {std::move(name),
          {std::move(arg)},
          [op](const std::vector<Tensor>& in) { return op(in[0]); },
          tol};
}

// `op` over a dense [3, 4, 5] input, its transposed and strided views, and an empty one.
void add_layouts(std::vector<OpCase>& cases, const std::string& name, const UnaryOp& op, Tol tol,
                 bool with_empty = true) {
  cases.push_back(on(name, normal({3, 4, 5}), op, tol));
  cases.push_back(on(name + "/transposed", transposed(normal({3, 4, 5})), op, tol));
  cases.push_back(on(name + "/strided", strided(normal({3, 4, 5})), op, tol));
  if (with_empty) cases.push_back(on(name + "/empty", normal({3, 0, 5}), op, tol));
}

TEST(CudaReduce, ReductionsMatchCpu) {
  MG_REQUIRE_CUDA();
  std::vector<OpCase> cases;
  add_layouts(
      cases, "sum", [](const Tensor& x) { return sum(x); }, kReduce);
  add_layouts(
      cases, "sum/dim1", [](const Tensor& x) { return sum(x, {1}); }, kReduce);
  add_layouts(
      cases, "sum/dims02_keepdim",
      [](const Tensor& x) {
        return sum(x, {0, 2}, true);
      },
      kReduce);
  add_layouts(
      cases, "sum/last", [](const Tensor& x) { return sum(x, {-1}); }, kReduce);
  add_layouts(
      cases, "mean/dim1", [](const Tensor& x) { return mean(x, {1}); }, kReduce);
  add_layouts(
      cases, "mean/dims12",
      [](const Tensor& x) {
        return mean(x, {1, 2}, true);
      },
      kReduce);
  add_layouts(
      cases, "prod/dim2", [](const Tensor& x) { return prod(x, {2}); }, kReduce);
  add_layouts(
      cases, "norm2", [](const Tensor& x) { return norm(x, 2.0, {2}); }, kReduce);
  add_layouts(
      cases, "norm1", [](const Tensor& x) { return norm(x, 1.0, {0}); }, kReduce);
  // Reductions that need a non-empty dim run on the dense layouts only.
  add_layouts(
      cases, "amax/dim1", [](const Tensor& x) { return amax(x, {1}); }, kExact, false);
  add_layouts(
      cases, "amin/dims02",
      [](const Tensor& x) {
        return amin(x, {0, 2}, true);
      },
      kExact, false);
  add_layouts(
      cases, "max", [](const Tensor& x) { return max(x); }, kExact, false);
  add_layouts(
      cases, "min", [](const Tensor& x) { return min(x); }, kExact, false);
  add_layouts(
      cases, "max/dim2/values", [](const Tensor& x) { return max(x, 2).values; }, kExact, false);
  add_layouts(
      cases, "max/dim0/indices", [](const Tensor& x) { return max(x, 0, true).indices; }, kExact,
      false);
  add_layouts(
      cases, "min/dim1/values", [](const Tensor& x) { return min(x, 1).values; }, kExact, false);
  add_layouts(
      cases, "min/dim1/indices", [](const Tensor& x) { return min(x, 1).indices; }, kExact, false);
  add_layouts(
      cases, "argmax", [](const Tensor& x) { return argmax(x); }, kExact, false);
  add_layouts(
      cases, "argmin/dim2", [](const Tensor& x) { return argmin(x, 2); }, kExact, false);
  add_layouts(
      cases, "var/dim1", [](const Tensor& x) { return var(x, {1}); }, kReduce, false);
  add_layouts(
      cases, "std/dim2", [](const Tensor& x) { return mixgrad::std(x, {2}, 0); }, kReduce, false);
  add_layouts(
      cases, "logsumexp/dim2", [](const Tensor& x) { return logsumexp(x, {2}); }, kReduce, false);
  // Ties: first index wins on both devices.
  cases.push_back(on(
      "argmax/ties", index({6, 40}, 3), [](const Tensor& x) { return argmax(x, 1); }, kExact));
  cases.push_back(on(
      "max/ties/indices", index({40, 6}, 3), [](const Tensor& x) { return max(x, 0).indices; },
      kExact));
  cases.push_back(on(
      "sum/int64", index({7, 9}, 1000), [](const Tensor& x) { return sum(x, {0}); }, kExact));
  cases.push_back(on(
      "sum/bool", mask({7, 9}), [](const Tensor& x) { return sum(x, {1}); }, kExact));
  cases.push_back(on(
      "amax/int32", index({7, 9}, 1000, kInt32), [](const Tensor& x) { return amax(x, {1}); },
      kExact));
  cases.push_back(on(
      "mean/empty_all", normal({0, 3}), [](const Tensor& x) { return mean(x); },
      kExact));  // NaN on both
  cases.push_back(on(
      "any", mask({5, 6}), [](const Tensor& x) { return any(x, {1}); }, kExact));
  cases.push_back(on(
      "all", mask({5, 6}), [](const Tensor& x) { return all(x, {0}); }, kExact));
  cases.push_back(on(
      "any/all_dims", mask({5, 6}), [](const Tensor& x) { return any(x); }, kExact));
  cases.push_back(on(
      "all/float", normal({5, 6}), [](const Tensor& x) { return all(round(x), {1}); }, kExact));
  cases.push_back(on(
      "sum/wide_rows", normal({4, 300001}), [](const Tensor& x) { return sum(x, {1}); },
      kLargeReduce));
  cases.push_back(on(
      "sum/tall_cols", normal({100003, 3}), [](const Tensor& x) { return sum(x, {0}); },
      kLargeReduce));
  run_cases(cases);
}

TEST(CudaReduce, CumsumMatchesCpu) {
  MG_REQUIRE_CUDA();
  std::vector<OpCase> cases;
  for (int64_t d = 0; d < 3; ++d)
    add_layouts(
        cases, "cumsum/dim" + std::to_string(d), [d](const Tensor& x) { return cumsum(x, d); },
        kReduce);
  cases.push_back(on(
      "cumsum/int64", index({6, 9}, 1000), [](const Tensor& x) { return cumsum(x, 1); }, kExact));
  cases.push_back(on(
      "cumsum/bool", mask({6, 9}), [](const Tensor& x) { return cumsum(x, 0); }, kExact));
  cases.push_back(on(
      "cumsum/1e6", normal({1000000}), [](const Tensor& x) { return cumsum(x, 0); }, kLargeReduce));
  cases.push_back(on(
      "cumsum/1e6/int64", index({1000000}, 1 << 20), [](const Tensor& x) { return cumsum(x, 0); },
      kExact));
  cases.push_back(on(
      "cumsum/1e6/strided", strided(normal({1000000})),
      [](const Tensor& x) { return cumsum(x, 0); }, kLargeReduce));
  run_cases(cases);
}

TEST(CudaReduce, SoftmaxMatchesCpu) {
  MG_REQUIRE_CUDA();
  std::vector<OpCase> cases;
  for (int64_t d : {-1, 0, 1}) {
    const std::string n = std::to_string(d);
    add_layouts(
        cases, "softmax/dim" + n, [d](const Tensor& x) { return softmax(x, d); }, kReduce);
    add_layouts(
        cases, "log_softmax/dim" + n, [d](const Tensor& x) { return log_softmax(x, d); }, kReduce);
  }
  // Large logits: the online max must keep exp from overflowing.
  cases.push_back(on(
      "softmax/large_logits", normal({4, 33}),
      [](const Tensor& x) { return softmax(x * 1000.0, -1); }, kReduce));
  cases.push_back(on(
      "softmax/65536", normal({3, 65536}), [](const Tensor& x) { return softmax(x * 4.0, -1); },
      kLargeReduce));
  cases.push_back(on(
      "log_softmax/65536", normal({2, 65536}), [](const Tensor& x) { return log_softmax(x, -1); },
      kLargeReduce));
  cases.push_back(on(
      "softmax/many_rows", normal({20000, 37}), [](const Tensor& x) { return softmax(x, -1); },
      kReduce));
  run_cases(cases);
}

TEST(CudaReduce, SortAndArgsortMatchCpu) {
  MG_REQUIRE_CUDA();
  std::vector<OpCase> cases;
  for (bool desc : {false, true}) {
    const std::string n = desc ? "/desc" : "/asc";
    add_layouts(
        cases, "sort/values" + n, [desc](const Tensor& x) { return sort(x, -1, desc).values; },
        kExact);
    add_layouts(
        cases, "sort/indices" + n, [desc](const Tensor& x) { return sort(x, 1, desc).indices; },
        kExact);
    add_layouts(
        cases, "argsort/dim0" + n, [desc](const Tensor& x) { return argsort(x, 0, desc); }, kExact);
    // With many equal keys only a stable sort fixes the indices.
    cases.push_back(on(
        "argsort/stable_ties" + n, index({7, 500}, 4),
        [desc](const Tensor& x) { return argsort(x, -1, desc, true); }, kExact));
    cases.push_back(on(
        "sort/ties/values" + n, index({7, 500}, 4, kInt32),
        [desc](const Tensor& x) { return sort(x, -1, desc).values; }, kExact));
    cases.push_back(on(
        "sort/wide" + n, normal({3, 200003}),
        [desc](const Tensor& x) { return sort(x, -1, desc).values; }, kExact));
    cases.push_back(on(
        "argsort/wide" + n, normal({2, 100000}),
        [desc](const Tensor& x) { return argsort(x, -1, desc); }, kExact));
    cases.push_back(on(
        "argsort/1d_stable" + n, index({300000}, 1000),
        [desc](const Tensor& x) { return argsort(x, 0, desc, true); }, kExact));
  }
  run_cases(cases);
}

TEST(CudaReduce, TopkMatchesCpu) {
  MG_REQUIRE_CUDA();
  std::vector<OpCase> cases;
  for (bool largest : {true, false}) {
    const std::string n = largest ? "/largest" : "/smallest";
    const auto values = [largest](int64_t k, int64_t dim) {
      return [=](const Tensor& x) { return topk(x, k, dim, largest).values; };
    };
    const auto indices = [largest](int64_t k, int64_t dim) {
      return [=](const Tensor& x) { return topk(x, k, dim, largest).indices; };
    };
    add_layouts(cases, "topk/values" + n, values(3, -1), kExact, false);
    add_layouts(cases, "topk/indices" + n, indices(2, 1), kExact, false);
    cases.push_back(on("topk/k0" + n, normal({4, 9}), values(0, -1), kExact));
    cases.push_back(on("topk/k_all" + n, normal({4, 9}), indices(9, -1), kExact));
    // The MoE gating shapes: narrow rows, small k, many rows, non-power-of-two widths.
    for (int64_t experts : {8, 60, 64, 256}) {
      for (int64_t k : {1, 2, 8}) {
        const std::string m = "/moe_E" + std::to_string(experts) + "_k" + std::to_string(k) + n;
        cases.push_back(on("topk/values" + m, normal({4099, experts}), values(k, -1), kExact));
        cases.push_back(on("topk/indices" + m, normal({4099, experts}), indices(k, -1), kExact));
      }
    }
    // Wide rows go through the segmented radix sort.
    for (int64_t k : {1, 10, 1000}) {
      const std::string m = "/100000_k" + std::to_string(k) + n;
      cases.push_back(on("topk/values" + m, normal({3, 100000}), values(k, -1), kExact));
      cases.push_back(on("topk/indices" + m, normal({3, 100000}), indices(k, -1), kExact));
    }
    cases.push_back(on("topk/ties/values" + n, index({5, 300}, 3), values(20, -1), kExact));
  }
  // sorted = false leaves the order open: compare the selected set.
  cases.push_back(on(
      "topk/unsorted", normal({6, 1000}),
      [](const Tensor& x) { return sort(topk(x, 17, -1, true, false).values, -1).values; },
      kExact));
  run_cases(cases);
}

}  // namespace
}  // namespace mixgrad::cuda_testing
