// Rows of the index ops (gather/scatter, index_select/index_add, advanced indexing, counting and
// selection) and of the MoE routing ops. Where indices may repeat, additions go through atomics
// on CUDA, whose order differs from the CPU's: kReduce; everything else moves data: kExact.
#include <cmath>
#include <numbers>

#include "optable/row_builder.h"

namespace mixgrad::testing {

namespace {

// The first `k` entries of a random permutation of each row of `keys` along `dim`: indices
// without repeats, made by each device's own argsort.
Tensor unique_indices(const Tensor& keys, int64_t dim, int64_t k) {
  return argsort(keys.detach(), dim).narrow(dim, 0, k);
}

std::vector<OpInfo> gather_scatter_rows() {
  std::vector<OpInfo> rows = {
      make_row(
          "gather", [](In in) { return gather(in[0], 1, in[1]); },
          {{"dim1", {normal({4, 6}), index({4, 9}, 6)}},
           {"int32_index", {normal({5, 3}), index({5, 7}, 3, kInt32)}},
           {"transposed", {transposed(normal({3, 4, 5})), index({3, 2, 5}, 4)}},
           {"strided_index", {normal({4, 6}), strided(index({4, 3}, 6))}},
           {"empty", {normal({4, 6}), index({4, 0}, 6)}}},
          kReduce),
      make_row(
          "gather/dim0", [](In in) { return gather(in[0], 0, in[1]); },
          {{"int32_index", {normal({5, 3}), index({7, 3}, 5, kInt32)}},
           {"transposed", {transposed(normal({5, 3})), index({2, 3}, 5)}}},
          kReduce),
      make_row("scatter",
               [](In in) { return scatter(in[0], 1, unique_indices(in[1], 1, 3), in[2]); },
               {{"unique", {normal({4, 6}), constant(normal({4, 6})), normal({4, 3})}},
                {"transposed_src",
                 {normal({4, 6}), constant(normal({4, 6})), transposed(normal({4, 3}))}}}),
      make_row("scatter/dim0",
               [](In in) { return scatter(in[0], 0, unique_indices(in[1], 0, 2), in[2]); },
               {{"unique", {normal({6, 4}), constant(normal({6, 4})), normal({2, 4})}}}),
      make_row(
          "scatter_add", [](In in) { return scatter_add(in[0], 1, in[1], in[2]); },
          {{"repeats", {normal({4, 6}), index({4, 20}, 6), normal({4, 20})}},
           {"empty", {normal({4, 6}), index({4, 0}, 6), normal({4, 0})}},
           {"large_hot",
            {normal({4, 8}), index({4, 200000}, 8), normal({4, 200000})},
            kLargeReduce}},
          kReduce),
      make_row(
          "scatter_add/dim0", [](In in) { return scatter_add(in[0], 0, in[1], in[2]); },
          {{"transposed_src", {normal({5, 3}), index({9, 3}, 5), transposed(normal({9, 3}))}}},
          kReduce),
      make_row("scatter_",
               [](In in) {
                 Tensor y = in[0] * 1.0;
                 return scatter_(y, 1, unique_indices(in[1], 1, 3), in[2]);
               },
               {{"unique", {normal({4, 6}), constant(normal({4, 6})), normal({4, 3})}}}),
      make_row(
          "scatter_add_",
          [](In in) {
            Tensor y = in[0] * 1.0;
            return scatter_add_(y, 1, in[1], in[2]);
          },
          {{"repeats", {normal({4, 6}), index({4, 20}, 6), normal({4, 20})}}}, kReduce),
  };
  runs_in_half(row_named(rows, "gather"), kHalfTol, kBFloat16Tol);
  return rows;
}

std::vector<OpInfo> index_select_rows() {
  return {
      make_row(
          "index_select", [](In in) { return index_select(in[0], 0, in[1]); },
          {{"dim0", {normal({7, 5}), index({11}, 7)}},
           {"empty", {normal({7, 5}), index({0}, 7)}},
           {"0-dim_index", {normal({7, 5}), index({}, 7)}},
           {"large", {normal({50000, 33}), index({70000}, 50000)}}},
          kReduce),
      make_row(
          "index_select/dim1", [](In in) { return index_select(in[0], 1, in[1]); },
          {{"transposed", {transposed(normal({5, 7})), index({4}, 5, kInt32)}}}, kReduce),
      make_row(
          "index_add", [](In in) { return index_add(in[0], 0, in[1], in[2]); },
          {{"repeats", {normal({6, 4}), index({15}, 6), normal({15, 4})}},
           {"int64", {index({6, 4}, 100), index({15}, 6), index({15, 4}, 100)}},
           {"empty", {normal({6, 4}), index({0}, 6), normal({0, 4})}}},
          kReduce),
      make_row(
          "index_add/alpha_dim1", [](In in) { return index_add(in[0], 1, in[1], in[2], 0.5); },
          {{"strided_src", {normal({3, 6}), index({10}, 6), strided(normal({3, 10}))}}}, kReduce),
      make_row(
          "index_add_",
          [](In in) {
            Tensor y = in[0] * 1.0;
            return index_add_(y, 0, in[1], in[2]);
          },
          {{"repeats", {normal({6, 4}), index({15}, 6), normal({15, 4})}}}, kReduce),
  };
}

std::vector<OpInfo> advanced_index_rows() {
  return {
      make_row(
          "index",
          [](In in) {
            return mixgrad::index(in[0], {in[1], in[2]});
          },
          {{"two_dims", {normal({5, 6, 2}), index({7}, 5), index({7}, 6)}},
           {"broadcast", {normal({5, 6}), index({4, 1}, 5), index({3}, 6)}},
           {"empty", {normal({5, 6}), index({0}, 5), index({0}, 6)}},
           {"transposed", {transposed(normal({6, 5})), index({3}, 5), index({3}, 6)}}},
          kReduce),
      make_row(
          "index/negative", [](In in) { return mixgrad::index(in[0], {in[1] - 5}); },
          {{"dense", {normal({5, 6}), index({3, 4}, 5)}}}, kReduce),
      make_row("index_put",
               [](In in) { return index_put(in[0], {unique_indices(in[1], 0, 5)}, in[2]); },
               {{"unique", {normal({8, 3}), constant(normal({8})), normal({5, 3})}},
                {"broadcast_values", {normal({8, 3}), constant(normal({8})), normal({3})}}}),
      make_row(
          "index_put/accumulate", [](In in) { return index_put(in[0], {in[1]}, in[2], true); },
          {{"repeats", {normal({6, 3}), index({20}, 6), normal({20, 3})}},
           {"empty", {normal({6, 3}), index({0}, 6), normal({0, 3})}}},
          kReduce),
      make_row(
          "index_put_",
          [](In in) {
            Tensor y = in[0] * 1.0;
            return index_put_(y, {in[1]}, in[2], true);
          },
          {{"accumulate", {normal({6, 3}), index({20}, 6), normal({20, 3})}}}, kReduce),
  };
}

std::vector<OpInfo> counting_rows() {
  std::vector<OpInfo> rows = {
      make_row(
          "bincount", [](In in) { return bincount(in[0]); },
          {{"dense", {index({1000}, 37)}}, {"large", {index({1000000}, 256)}}}, kExact, false),
      make_row(
          "bincount/minlength", [](In in) { return bincount(in[0], Tensor(), 50); },
          {{"int32", {index({100}, 5, kInt32)}}, {"empty", {index({0}, 5)}}}, kExact, false),
      make_row(
          "bincount/weights", [](In in) { return bincount(in[0], in[1]); },
          {{"dense", {index({1000}, 37), normal({1000})}},
           {"strided_weights", {index({30}, 7), strided(normal({30}))}}},
          kReduce, false),
      make_row(
          "one_hot", [](In in) { return one_hot(in[0], 7); },
          {{"dense", {index({6}, 5)}}, {"empty", {index({0}, 5)}}, {"0-dim", {index({}, 5)}}},
          kExact, false),
      make_row(
          "one_hot/inferred", [](In in) { return one_hot(in[0]); }, {{"dense", {index({2, 6}, 5)}}},
          kExact, false),
      make_row(
          "nonzero", [](In in) { return nonzero(in[0]); },
          {{"bool", {mask({5, 7})}},
           {"transposed", {transposed(mask({7, 5}))}},
           {"large", {mask({1000003})}},
           {"empty", {mask({0, 3})}},
           {"none", {index({4, 5}, 1)}},
           {"0-dim", {mask({})}}},
          kExact, false),
      make_row(
          "nonzero/float", [](In in) { return nonzero(round(in[0].detach())); },
          {{"3d", {normal({3, 4, 5})}}}, kExact, false),
      make_row(
          "masked_select", [](In in) { return masked_select(in[0], in[1]); },
          {{"same", {normal({4, 5}), mask({4, 5})}},
           {"broadcast", {strided(normal({4, 5})), mask({5})}},
           {"empty", {normal({0, 5}), mask({5})}}},
          kReduce),
  };
  return rows;
}

// The MoE dispatch plan of 300 tokens routed to 2 of 12 experts each.
constexpr int64_t kTokens = 300, kExperts = 12, kTopK = 2;

std::vector<OpInfo> moe_rows() {
  const Arg ids = index({kTokens, kTopK}, kExperts);
  const auto plan_of = [](const Tensor& expert_ids) {
    return make_dispatch_plan(expert_ids, kExperts);
  };
  std::vector<OpInfo> rows = {
      make_row(
          "make_dispatch_plan/order", [=](In in) { return plan_of(in[0]).order; },
          {{"dense", {ids}}}, kExact, false),
      make_row(
          "make_dispatch_plan/counts", [=](In in) { return plan_of(in[0]).counts; },
          {{"dense", {ids}}, {"empty", {index({0, kTopK}, kExperts)}}}, kExact, false),
      make_row(
          "make_dispatch_plan/offsets", [=](In in) { return plan_of(in[0]).offsets; },
          {{"dense", {ids}}}, kExact, false),
      make_row(
          "make_dispatch_plan/token_index_keep",
          [](In in) { return make_dispatch_plan(in[0], kExperts, in[1]).token_index; },
          {{"dense", {ids, mask({kTokens, kTopK})}}}, kExact, false),
      make_row(
          "dispatch", [=](In in) { return dispatch(in[1], plan_of(in[0])); },
          {{"dense", {ids, normal({kTokens, 8})}},
           {"small", {index({5, kTopK}, kExperts), normal({5, 3})}},
           {"strided", {index({5, kTopK}, kExperts), strided(normal({5, 3}))}}},
          kReduce),
      make_row(
          "combine", [=](In in) { return combine(in[1], in[2], plan_of(in[0])); },
          {{"dense", {ids, normal({kTokens * kTopK, 8}), positive({kTokens, kTopK})}},
           {"small", {index({4, kTopK}, kExperts), normal({4 * kTopK, 3}), positive({4, kTopK})}},
           {"transposed",
            {index({4, kTopK}, kExperts), transposed(normal({4 * kTopK, 3})),
             positive({4, kTopK})}}},
          kReduce),
      make_row(
          "expert_positions", [](In in) { return expert_positions(in[0], kExperts); },
          {{"dense", {ids}}, {"empty", {index({0, kTopK}, kExperts)}}}, kExact, false),
      make_row(
          "normal_cdf", [](In in) { return normal_cdf(in[0]); }, unary_samples(), kTranscendental),
      make_row(
          "cv_squared", [](In in) { return cv_squared(in[0]); },
          {{"dense", {positive({12})}}, {"strided", {strided(positive({12}))}}}, kReduce),
      make_row(
          "cv_squared/corrected", [](In in) { return cv_squared(in[0], 1); },
          {{"dense", {positive({12})}}}, kReduce),
  };
  row_named(rows, "normal_cdf").reference = [](const std::vector<double>& v) {
    return 0.5 * std::erfc(-v[0] / std::numbers::sqrt2);
  };
  return rows;
}

}  // namespace

std::vector<OpInfo> index_rows() {
  return join_rows(
      {gather_scatter_rows, index_select_rows, advanced_index_rows, counting_rows, moe_rows});
}

}  // namespace mixgrad::testing
