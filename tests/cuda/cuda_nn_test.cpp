// Matrix products, normalisations, losses, convolutions and pools on CUDA against the CPU.
#include "cuda/cuda_test_util.h"

namespace mixgrad::cuda_testing {
namespace {

using Inputs = std::vector<Tensor>;

TEST(CudaNn, MatrixProductsMatchCpu) {
  MG_REQUIRE_CUDA();
  const OpFn mat = [](const Inputs& in) { return matmul(in[0], in[1]); };
  run_cases({
      {"matmul/2d", {normal({7, 13}), normal({13, 5})}, mat, kReduce},
      {"matmul/transposed_a", {transposed(normal({7, 13})), normal({13, 5})}, mat, kReduce},
      {"matmul/transposed_b", {normal({7, 13}), transposed(normal({13, 5}))}, mat, kReduce},
      {"matmul/strided", {strided(normal({7, 13})), normal({13, 5})}, mat, kReduce},
      {"matmul/vec_mat", {normal({13}), normal({13, 5})}, mat, kReduce},
      {"matmul/mat_vec", {normal({7, 13}), normal({13})}, mat, kReduce},
      {"matmul/dot", {normal({13}), normal({13})}, mat, kReduce},
      {"matmul/batched_broadcast", {normal({2, 1, 7, 13}), normal({3, 13, 5})}, mat, kReduce},
      {"matmul/empty_k", {normal({7, 0}), normal({0, 5})}, mat, kReduce},
      {"matmul/empty_m", {normal({0, 4}), normal({4, 5})}, mat, kReduce},
      {"matmul/large", {normal({300, 257}), normal({257, 129})}, mat, kReduce},
      {"matmul/int64", {index({4, 6}, 100), index({6, 3}, 100)}, mat},
      // cuBLAS with TF32 off must keep float32 products at float32 accuracy.
      {"matmul/float32",
       {normal({64, 64}, kFloat32), normal({64, 48}, kFloat32)},
       mat,
       kFloat32Tol},
      {"mm",
       {normal({6, 4}), normal({4, 3})},
       [](const Inputs& in) { return mm(in[0], in[1]); },
       kReduce},
      {"bmm",
       {normal({4, 6, 5}), transposed(normal({4, 5, 3}))},
       [](const Inputs& in) { return bmm(in[0], in[1]); },
       kReduce},
      {"addmm",
       {normal({6, 3}), normal({6, 4}), normal({4, 3})},
       [](const Inputs& in) { return addmm(in[0], in[1], in[2], 0.5, 2.0); },
       kReduce},
      {"addmm/broadcast_self",
       {normal({3}), normal({6, 4}), normal({4, 3})},
       [](const Inputs& in) { return addmm(in[0], in[1], in[2]); },
       kReduce},
      {"baddbmm",
       {normal({1, 6, 3}), normal({2, 6, 4}), normal({2, 4, 3})},
       [](const Inputs& in) { return baddbmm(in[0], in[1], in[2], -1.0, 0.25); },
       kReduce},
      {"linear",
       {normal({5, 2, 8}), normal({3, 8}), normal({3})},
       [](const Inputs& in) { return linear(in[0], in[1], in[2]); },
       kReduce},
      {"linear/no_bias",
       {normal({5, 8}), normal({3, 8})},
       [](const Inputs& in) { return linear(in[0], in[1]); },
       kReduce},
      {"einsum/bij_bjk",
       {normal({2, 3, 4}), normal({2, 4, 5})},
       [](const Inputs& in) {
         return einsum("bij,bjk->bik", {in[0], in[1]});
       },
       kReduce},
      {"einsum/trace_outer",
       {normal({4, 4}), normal({3})},
       [](const Inputs& in) {
         return einsum("ii,j->j", {in[0], in[1]});
       },
       kReduce},
      {"einsum/sum_transpose",
       {normal({3, 4, 5})},
       [](const Inputs& in) { return einsum("ijk->ki", {in[0]}); },
       kReduce},
  });
}

TEST(CudaNn, GroupedMatmulMatchesCpu) {
  MG_REQUIRE_CUDA();
  // group_sizes is read on the host and stays a CPU tensor on both devices; empty groups and a
  // group larger than one tile are included.
  const auto sizes = [] { return tensor<int64_t>({3, 0, 70, 1, 0, 26}); };
  run_cases({
      {"grouped_matmul",
       {normal({100, 12}), normal({6, 12, 7})},
       [sizes](const Inputs& in) { return grouped_matmul(in[0], in[1], sizes()); },
       kReduce},
      {"grouped_matmul/bias",
       {normal({100, 12}), normal({6, 12, 7}), normal({6, 7})},
       [sizes](const Inputs& in) { return grouped_matmul(in[0], in[1], sizes(), in[2]); },
       kReduce},
      {"grouped_matmul/transposed_x",
       {transposed(normal({100, 12})), normal({6, 12, 7})},
       [sizes](const Inputs& in) { return grouped_matmul(in[0], in[1], sizes()); },
       kReduce},
      {"grouped_matmul/no_rows",
       {normal({0, 12}), normal({2, 12, 7})},
       [](const Inputs& in) {
         return grouped_matmul(in[0], in[1], tensor<int64_t>({0, 0}));
       },
       kReduce},
  });
}

TEST(CudaNn, NormalizationsMatchCpu) {
  MG_REQUIRE_CUDA();
  // Running statistics live on the input's device, fresh for each call.
  const auto bn = [](bool training, bool stats_out) {
    return [=](const Inputs& in) {
      const int64_t c = in[0].size(1);
      Tensor mean = zeros({c}, options_of(in[0])), var = ones({c}, options_of(in[0]));
      Tensor y = batch_norm(in[0], mean, var, in[1], in[2], training, 0.3);
      return stats_out ? cat({mean, var}) : y;
    };
  };
  run_cases({
      {"layer_norm",
       {normal({4, 6, 10}), normal({10}), normal({10})},
       [](const Inputs& in) { return layer_norm(in[0], {10}, in[1], in[2]); },
       kReduce},
      {"layer_norm/2d_shape",
       {normal({4, 6, 10}), normal({6, 10}), normal({6, 10})},
       [](const Inputs& in) {
         return layer_norm(in[0], {6, 10}, in[1], in[2], 1e-3);
       },
       kReduce},
      {"layer_norm/no_affine/transposed",
       {transposed(normal({3, 10, 6}))},
       [](const Inputs& in) { return layer_norm(in[0], {6}); },
       kReduce},
      {"layer_norm/wide",
       {normal({8, 4099}), normal({4099}), normal({4099})},
       [](const Inputs& in) { return layer_norm(in[0], {4099}, in[1], in[2]); },
       kReduce},
      {"batch_norm/train",
       {normal({8, 3, 5, 5}), normal({3}), normal({3})},
       bn(true, false),
       kReduce},
      {"batch_norm/train/running_stats",
       {normal({8, 3, 5, 5}), normal({3}), normal({3})},
       bn(true, true),
       kReduce,
       false},
      {"batch_norm/eval", {normal({8, 3, 5}), normal({3}), normal({3})}, bn(false, false), kReduce},
      {"batch_norm/2d_input",
       {normal({16, 5}), normal({5}), normal({5})},
       bn(true, false),
       kReduce},
      {"group_norm",
       {normal({2, 6, 4, 3}), normal({6}), normal({6})},
       [](const Inputs& in) { return group_norm(in[0], 3, in[1], in[2]); },
       kReduce},
      {"group_norm/no_affine",
       {normal({2, 4, 7})},
       [](const Inputs& in) { return group_norm(in[0], 2); },
       kReduce},
  });
}

TEST(CudaNn, LossesMatchCpu) {
  MG_REQUIRE_CUDA();
  constexpr int64_t kClasses = 7;
  run_cases({
      {"cross_entropy",
       {normal({9, kClasses}), index({9}, kClasses)},
       [](const Inputs& in) { return cross_entropy(in[0], in[1]); },
       kReduce},
      {"cross_entropy/sum_smoothing",
       {normal({9, kClasses}), index({9}, kClasses)},
       [](const Inputs& in) { return cross_entropy(in[0], in[1], Reduction::Sum, 0.1); },
       kReduce},
      // Targets in [-1, C): -1 is ignored.
      {"cross_entropy/ignore_index",
       {normal({30, kClasses}), index({30}, kClasses + 1)},
       [](const Inputs& in) { return cross_entropy(in[0], in[1] - 1, Reduction::Mean, 0.0, -1); },
       kReduce},
      {"cross_entropy/spatial",
       {normal({2, kClasses, 3, 4}), index({2, 3, 4}, kClasses)},
       [](const Inputs& in) { return cross_entropy(in[0], in[1], Reduction::None); },
       kReduce},
      {"cross_entropy/transposed",
       {transposed(normal({9, kClasses})), index({9}, kClasses, kInt32)},
       [](const Inputs& in) { return cross_entropy(in[0], in[1]); },
       kReduce},
      {"nll_loss",
       {normal({9, kClasses}), index({9}, kClasses)},
       [](const Inputs& in) { return nll_loss(log_softmax(in[0], 1), in[1]); },
       kReduce},
      {"mse_loss",
       {normal({4, 5}), normal({4, 5})},
       [](const Inputs& in) { return mse_loss(in[0], in[1]); },
       kReduce},
      {"mse_loss/none",
       {strided(normal({4, 5})), normal({4, 5})},
       [](const Inputs& in) { return mse_loss(in[0], in[1], Reduction::None); },
       kReduce},
      {"l1_loss",
       {normal({4, 5}), normal({4, 5})},
       [](const Inputs& in) { return l1_loss(in[0], in[1], Reduction::Sum); },
       kReduce},
      {"smooth_l1_loss",
       {normal({4, 5}), normal({4, 5})},
       [](const Inputs& in) { return smooth_l1_loss(in[0], in[1], Reduction::Mean, 0.5); },
       kReduce},
      {"bce_with_logits",
       {normal({6, 3}), positive({6, 3}), positive({3}), positive({3})},
       [](const Inputs& in) {
         return binary_cross_entropy_with_logits(in[0] * 4.0, (in[1] - 0.5) / 1.5, Reduction::Mean,
                                                 in[2], in[3]);
       },
       kReduce},
      {"bce",
       {normal({6, 3}), positive({6, 3})},
       [](const Inputs& in) {
         return binary_cross_entropy(sigmoid(in[0]), (in[1] - 0.5) / 1.5, Reduction::Sum);
       },
       kReduce},
      {"cross_entropy/large_vocab",
       {normal({16, 50000}), index({16}, 50000)},
       [](const Inputs& in) { return cross_entropy(in[0], in[1]); },
       kLargeReduce},
  });
}

TEST(CudaNn, ConvolutionsMatchCpu) {
  MG_REQUIRE_CUDA();
  run_cases({
      {"conv2d",
       {normal({2, 3, 9, 8}), normal({4, 3, 3, 3}), normal({4})},
       [](const Inputs& in) { return conv2d(in[0], in[1], in[2]); },
       kReduce},
      {"conv2d/stride_pad_dilation",
       {normal({2, 3, 11, 10}), normal({5, 3, 3, 2}), normal({5})},
       [](const Inputs& in) {
         return conv2d(in[0], in[1], in[2], {.stride = {2, 1}, .padding = {1, 2}, .dilation = 2});
       },
       kReduce},
      {"conv2d/groups",
       {normal({2, 4, 7, 7}), normal({6, 2, 3, 3})},
       [](const Inputs& in) { return conv2d(in[0], in[1], Tensor(), {.groups = 2}); },
       kReduce},
      {"conv2d/same",
       {normal({1, 2, 6, 5}), normal({3, 2, 4, 3})},
       [](const Inputs& in) { return conv2d(in[0], in[1], Tensor(), {.padding = Padding::Same}); },
       kReduce},
      {"conv2d/transposed_input",
       {transposed(normal({2, 3, 8, 9})), normal({4, 3, 3, 3})},
       [](const Inputs& in) { return conv2d(in[0], in[1]); },
       kReduce},
      {"conv1d",
       {normal({3, 4, 20}), normal({6, 4, 5}), normal({6})},
       [](const Inputs& in) { return conv1d(in[0], in[1], in[2], {.stride = 2, .padding = 1}); },
       kReduce},
      {"conv2d/larger",
       {normal({8, 16, 32, 32}), normal({32, 16, 3, 3}), normal({32})},
       [](const Inputs& in) { return conv2d(in[0], in[1], in[2], {.padding = 1}); },
       kReduce},
  });
}

TEST(CudaNn, PoolsMatchCpu) {
  MG_REQUIRE_CUDA();
  run_cases({
      {"max_pool2d",
       {normal({2, 3, 9, 8})},
       [](const Inputs& in) { return max_pool2d(in[0], 3, {.stride = 2, .padding = 1}); }},
      {"max_pool2d/indices",
       {normal({2, 3, 9, 8})},
       [](const Inputs& in) {
         return max_pool2d_with_indices(in[0], {3, 2}).second;
       }},
      {"max_pool2d/dilation_ceil",
       {normal({2, 3, 10, 9})},
       [](const Inputs& in) {
         return max_pool2d(in[0], 2, {.stride = 2, .dilation = 2, .ceil_mode = true});
       }},
      {"max_pool2d/ties",
       {index({2, 2, 6, 6}, 2)},
       [](const Inputs& in) { return max_pool2d_with_indices(in[0], 2).second; }},
      {"max_pool2d/transposed",
       {transposed(normal({2, 3, 8, 9}))},
       [](const Inputs& in) { return max_pool2d(in[0], 2); }},
      {"avg_pool2d",
       {normal({2, 3, 9, 8})},
       [](const Inputs& in) { return avg_pool2d(in[0], 3, {.stride = 2, .padding = 1}); },
       kReduce},
      {"avg_pool2d/ceil_no_pad_count",
       {normal({2, 3, 9, 8})},
       [](const Inputs& in) {
         return avg_pool2d(
             in[0], {3, 2},
             {.stride = 2, .padding = 1, .ceil_mode = true, .count_include_pad = false});
       },
       kReduce},
      {"avg_pool2d/divisor",
       {normal({1, 2, 6, 6})},
       [](const Inputs& in) { return avg_pool2d(in[0], 2, {.divisor_override = 3}); },
       kReduce},
      {"adaptive_avg_pool2d",
       {normal({2, 3, 10, 7})},
       [](const Inputs& in) {
         return adaptive_avg_pool2d(in[0], {3, 4});
       },
       kReduce},
      {"adaptive_avg_pool2d/global",
       {normal({2, 3, 10, 7})},
       [](const Inputs& in) { return adaptive_avg_pool2d(in[0], 1); },
       kReduce},
  });
}

}  // namespace
}  // namespace mixgrad::cuda_testing
