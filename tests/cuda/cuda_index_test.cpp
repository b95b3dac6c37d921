// Index, join and selection ops on CUDA against the CPU: gather/scatter/index_select/index_add,
// advanced indexing, cat/stack/split, embedding, bincount, one_hot, nonzero, masked_select and the
// MoE dispatch plan. Where indices may repeat, additions go through atomics whose order differs
// from the CPU's, hence kReduce; everything else moves data and must match exactly.
#include "cuda/cuda_test_util.h"

namespace mixgrad::cuda_testing {
namespace {

// The first `k` entries of a random permutation of each row of `keys` along `dim`: indices
// without repeats, made by each device's own argsort.
Tensor unique_indices(const Tensor& keys, int64_t dim, int64_t k) {
  return argsort(keys, dim).narrow(dim, 0, k);
}

TEST(CudaIndex, GatherScatterMatchCpu) {
  MG_REQUIRE_CUDA();
  run_cases({
      {"gather/dim1",
       {normal({4, 6}), index({4, 9}, 6)},
       [](const std::vector<Tensor>& in) { return gather(in[0], 1, in[1]); },
       kReduce},
      {"gather/dim0/int32",
       {normal({5, 3}), index({7, 3}, 5, kInt32)},
       [](const std::vector<Tensor>& in) { return gather(in[0], 0, in[1]); },
       kReduce},
      {"gather/3d/transposed",
       {transposed(normal({3, 4, 5})), index({3, 2, 5}, 4)},
       [](const std::vector<Tensor>& in) { return gather(in[0], 1, in[1]); },
       kReduce},
      {"gather/strided_index",
       {normal({4, 6}), strided(index({4, 3}, 6))},
       [](const std::vector<Tensor>& in) { return gather(in[0], 1, in[1]); },
       kReduce},
      {"gather/empty",
       {normal({4, 6}), index({4, 0}, 6)},
       [](const std::vector<Tensor>& in) { return gather(in[0], 1, in[1]); }},
      {"scatter/unique",
       {normal({4, 6}), normal({4, 6}), normal({4, 3})},
       [](const std::vector<Tensor>& in) {
         return scatter(in[0], 1, unique_indices(in[1].detach(), 1, 3), in[2]);
       }},
      {"scatter/dim0/unique",
       {normal({6, 4}), normal({6, 4}), normal({2, 4})},
       [](const std::vector<Tensor>& in) {
         return scatter(in[0], 0, unique_indices(in[1].detach(), 0, 2), in[2]);
       }},
      {"scatter_add/repeats",
       {normal({4, 6}), index({4, 20}, 6), normal({4, 20})},
       [](const std::vector<Tensor>& in) { return scatter_add(in[0], 1, in[1], in[2]); },
       kReduce},
      {"scatter_add/dim0/transposed_src",
       {normal({5, 3}), index({9, 3}, 5), transposed(normal({9, 3}))},
       [](const std::vector<Tensor>& in) { return scatter_add(in[0], 0, in[1], in[2]); },
       kReduce},
      {"scatter_add/large_hot",
       {normal({4, 8}), index({4, 200000}, 8), normal({4, 200000})},
       [](const std::vector<Tensor>& in) { return scatter_add(in[0], 1, in[1], in[2]); },
       kLargeReduce},
  });
}

TEST(CudaIndex, IndexSelectAndIndexAddMatchCpu) {
  MG_REQUIRE_CUDA();
  run_cases({
      {"index_select/dim0",
       {normal({7, 5}), index({11}, 7)},
       [](const std::vector<Tensor>& in) { return index_select(in[0], 0, in[1]); },
       kReduce},
      {"index_select/dim1/transposed",
       {transposed(normal({5, 7})), index({4}, 5, kInt32)},
       [](const std::vector<Tensor>& in) { return index_select(in[0], 1, in[1]); },
       kReduce},
      {"index_select/empty",
       {normal({7, 5}), index({0}, 7)},
       [](const std::vector<Tensor>& in) { return index_select(in[0], 0, in[1]); }},
      {"index_select/large",
       {normal({50000, 33}), index({70000}, 50000)},
       [](const std::vector<Tensor>& in) { return index_select(in[0], 0, in[1]); },
       kReduce},
      {"index_add/repeats",
       {normal({6, 4}), index({15}, 6), normal({15, 4})},
       [](const std::vector<Tensor>& in) { return index_add(in[0], 0, in[1], in[2]); },
       kReduce},
      {"index_add/alpha/dim1",
       {normal({3, 6}), index({10}, 6), strided(normal({3, 10}))},
       [](const std::vector<Tensor>& in) { return index_add(in[0], 1, in[1], in[2], 0.5); },
       kReduce},
      {"index_add/int64",
       {index({6, 4}, 100), index({15}, 6), index({15, 4}, 100)},
       [](const std::vector<Tensor>& in) { return index_add(in[0], 0, in[1], in[2]); }},
  });
}

TEST(CudaIndex, AdvancedIndexingMatchesCpu) {
  MG_REQUIRE_CUDA();
  run_cases({
      {"index/two_dims",
       {normal({5, 6, 2}), index({7}, 5), index({7}, 6)},
       [](const std::vector<Tensor>& in) {
         return mixgrad::index(in[0], {in[1], in[2]});
       },
       kReduce},
      {"index/negative",
       {normal({5, 6}), index({3, 4}, 5)},
       [](const std::vector<Tensor>& in) { return mixgrad::index(in[0], {in[1] - 5}); },
       kReduce},
      {"index/broadcast",
       {normal({5, 6}), index({4, 1}, 5), index({3}, 6)},
       [](const std::vector<Tensor>& in) {
         return mixgrad::index(in[0], {in[1], in[2]});
       },
       kReduce},
      {"index_put/unique",
       {normal({8, 3}), normal({8}), normal({5, 3})},
       [](const std::vector<Tensor>& in) {
         return index_put(in[0], {unique_indices(in[1].detach(), 0, 5)}, in[2]);
       }},
      {"index_put/accumulate",
       {normal({6, 3}), index({20}, 6), normal({20, 3})},
       [](const std::vector<Tensor>& in) { return index_put(in[0], {in[1]}, in[2], true); },
       kReduce},
  });
}

TEST(CudaIndex, CatStackSplitMatchCpu) {
  MG_REQUIRE_CUDA();
  run_cases({
      {"cat/dim0",
       {normal({2, 5}), normal({3, 5}), normal({1, 5})},
       [](const std::vector<Tensor>& in) { return cat(in, 0); }},
      {"cat/dim1/views",
       {transposed(normal({2, 5})), strided(normal({2, 3})), normal({2, 4})},
       [](const std::vector<Tensor>& in) { return cat(in, 1); }},
      {"cat/with_empty",
       {normal({2, 5}), normal({0, 5}), normal({3, 5})},
       [](const std::vector<Tensor>& in) { return cat(in, 0); }},
      {"cat/promote",
       {normal({2, 5}, kFloat32), normal({3, 5}), index({1, 5}, 9)},
       [](const std::vector<Tensor>& in) { return cat(in, 0); }},
      {"cat/large",
       {normal({1000, 300}), normal({1000, 77})},
       [](const std::vector<Tensor>& in) { return cat(in, 1); }},
      {"stack/dim0",
       {normal({3, 4}), normal({3, 4})},
       [](const std::vector<Tensor>& in) { return stack(in, 0); }},
      {"stack/dim2/views",
       {transposed(normal({3, 4})), normal({3, 4}), strided(normal({3, 4}))},
       [](const std::vector<Tensor>& in) { return stack(in, 2); }},
      {"split/recat",
       {normal({7, 4})},
       [](const std::vector<Tensor>& in) {
         std::vector<Tensor> parts = split(in[0], 3, 0);
         return cat({parts[2], parts[0], parts[1]}, 0);
       }},
      {"chunk/dim1",
       {normal({4, 9})},
       [](const std::vector<Tensor>& in) { return chunk(in[0], 3, 1)[1] * 2.0; }},
      {"repeat",
       {normal({2, 3})},
       [](const std::vector<Tensor>& in) {
         return repeat(in[0], {2, 1, 3});
       },
       kReduce},
  });
}

TEST(CudaIndex, EmbeddingMatchesCpu) {
  MG_REQUIRE_CUDA();
  run_cases({
      {"embedding",
       {normal({10, 4}), index({3, 5}, 10)},
       [](const std::vector<Tensor>& in) { return embedding(in[0], in[1]); },
       kReduce},
      {"embedding/int32",
       {normal({10, 4}), index({6}, 10, kInt32)},
       [](const std::vector<Tensor>& in) { return embedding(in[0], in[1]); },
       kReduce},
      {"embedding/large",
       {normal({30000, 64}), index({8, 512}, 30000)},
       [](const std::vector<Tensor>& in) { return embedding(in[0], in[1]); },
       kReduce},
      {"embedding/hot_row",
       {normal({3, 16}), index({50000}, 3)},
       [](const std::vector<Tensor>& in) { return embedding(in[0], in[1]); },
       kLargeReduce},
  });
}

TEST(CudaIndex, CountingAndSelectionMatchCpu) {
  MG_REQUIRE_CUDA();
  run_cases({
      {"bincount",
       {index({1000}, 37)},
       [](const std::vector<Tensor>& in) { return bincount(in[0]); }},
      {"bincount/minlength",
       {index({100}, 5, kInt32)},
       [](const std::vector<Tensor>& in) { return bincount(in[0], Tensor(), 50); }},
      {"bincount/weights",
       {index({1000}, 37), constant(normal({1000}))},
       [](const std::vector<Tensor>& in) { return bincount(in[0], in[1]); },
       kReduce},
      {"bincount/large",
       {index({1000000}, 256)},
       [](const std::vector<Tensor>& in) { return bincount(in[0]); }},
      {"bincount/empty",
       {index({0}, 5)},
       [](const std::vector<Tensor>& in) { return bincount(in[0], Tensor(), 3); }},
      {"one_hot", {index({6}, 5)}, [](const std::vector<Tensor>& in) { return one_hot(in[0], 7); }},
      {"one_hot/inferred",
       {index({2, 6}, 5)},
       [](const std::vector<Tensor>& in) { return one_hot(in[0]); }},
      {"nonzero/bool",
       {mask({5, 7})},
       [](const std::vector<Tensor>& in) { return nonzero(in[0]); }},
      {"nonzero/float/3d",
       {normal({3, 4, 5})},
       [](const std::vector<Tensor>& in) { return nonzero(round(in[0].detach())); }},
      {"nonzero/transposed",
       {transposed(mask({7, 5}))},
       [](const std::vector<Tensor>& in) { return nonzero(in[0]); }},
      {"nonzero/large",
       {mask({1000003})},
       [](const std::vector<Tensor>& in) { return nonzero(in[0]); }},
      {"nonzero/empty",
       {mask({0, 3})},
       [](const std::vector<Tensor>& in) { return nonzero(in[0]); }},
      {"nonzero/none",
       {index({4, 5}, 1)},
       [](const std::vector<Tensor>& in) { return nonzero(in[0]); }},
      {"masked_select",
       {normal({4, 5}), mask({4, 5})},
       [](const std::vector<Tensor>& in) { return masked_select(in[0], in[1]); },
       kReduce},
      {"masked_select/broadcast",
       {strided(normal({4, 5})), mask({5})},
       [](const std::vector<Tensor>& in) { return masked_select(in[0], in[1]); },
       kReduce},
  });
}

TEST(CudaIndex, MoeDispatchPlanMatchesCpu) {
  MG_REQUIRE_CUDA();
  constexpr int64_t kTokens = 300, kExperts = 12, kTopK = 2;
  const auto plan_of = [](const Tensor& ids) { return make_dispatch_plan(ids, kExperts); };
  run_cases({
      {"plan/order",
       {index({kTokens, kTopK}, kExperts)},
       [&](const std::vector<Tensor>& in) { return plan_of(in[0]).order; }},
      {"plan/counts",
       {index({kTokens, kTopK}, kExperts)},
       [&](const std::vector<Tensor>& in) { return plan_of(in[0]).counts; }},
      {"plan/offsets",
       {index({kTokens, kTopK}, kExperts)},
       [&](const std::vector<Tensor>& in) { return plan_of(in[0]).offsets; }},
      {"plan/token_index/keep",
       {index({kTokens, kTopK}, kExperts), mask({kTokens, kTopK})},
       [](const std::vector<Tensor>& in) {
         return make_dispatch_plan(in[0], kExperts, in[1]).token_index;
       }},
      {"dispatch",
       {index({kTokens, kTopK}, kExperts), normal({kTokens, 8})},
       [&](const std::vector<Tensor>& in) { return dispatch(in[1], plan_of(in[0])); },
       kReduce},
      {"combine",
       {index({kTokens, kTopK}, kExperts), normal({kTokens * kTopK, 8}),
        positive({kTokens, kTopK})},
       [&](const std::vector<Tensor>& in) { return combine(in[1], in[2], plan_of(in[0])); },
       kReduce},
      {"expert_positions",
       {index({kTokens, kTopK}, kExperts)},
       [](const std::vector<Tensor>& in) { return expert_positions(in[0], kExperts); }},
  });
}

}  // namespace
}  // namespace mixgrad::cuda_testing
