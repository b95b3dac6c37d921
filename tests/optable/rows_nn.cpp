// Rows of the network ops: matrix products, normalisations, losses, convolutions, pools,
// attention, rotary embeddings, dropout and the fused optimizer step.
#include <cmath>

#include "optable/row_builder.h"

namespace mixgrad::testing {

namespace {

std::vector<OpInfo> product_rows() {
  // Six groups: empty ones and, for 100 rows, one larger than a tile.
  const auto sizes = [](const Tensor& x) {
    const int64_t n = x.size(0);
    return n == 100 ? tensor<int64_t>({3, 0, 70, 1, 0, 26})
                    : tensor<int64_t>({1, 0, n - 4, 1, 0, 2});
  };
  std::vector<OpInfo> rows = {
      make_row(
          "matmul", [](In in) { return matmul(in[0], in[1]); },
          {{"2d", {normal({7, 13}), normal({13, 5})}},
           {"transposed_a", {transposed(normal({7, 13})), normal({13, 5})}},
           {"transposed_b", {normal({7, 13}), transposed(normal({13, 5}))}},
           {"strided", {strided(normal({7, 13})), normal({13, 5})}},
           {"vec_mat", {normal({13}), normal({13, 5})}},
           {"mat_vec", {normal({7, 13}), normal({13})}},
           {"dot", {normal({13}), normal({13})}},
           {"batched_broadcast", {normal({2, 1, 7, 13}), normal({3, 13, 5})}},
           {"empty_k", {normal({7, 0}), normal({0, 5})}},
           {"empty_m", {normal({0, 4}), normal({4, 5})}},
           {"large", {normal({300, 257}), normal({257, 129})}},
           {"int64", {index({4, 6}, 100), index({6, 3}, 100)}},
           {"float32", {normal({64, 64}, kFloat32), normal({64, 48}, kFloat32)}, kFloat32Tol}},
          kReduce),
      make_row(
          "mm", [](In in) { return mm(in[0], in[1]); },
          {{"dense", {normal({6, 4}), normal({4, 3})}},
           {"transposed", {transposed(normal({6, 4})), normal({4, 3})}},
           {"empty", {normal({0, 4}), normal({4, 3})}}},
          kReduce),
      make_row(
          "bmm", [](In in) { return bmm(in[0], in[1]); },
          {{"transposed_b", {normal({4, 6, 5}), transposed(normal({4, 5, 3}))}},
           {"empty", {normal({0, 6, 5}), normal({0, 5, 3})}},
           {"k64", {normal({3, 16, 64}), transposed(normal({3, 64, 24}))}}},
          kReduce),
      make_row(
          "addmm", [](In in) { return addmm(in[0], in[1], in[2], 0.5, 2.0); },
          {{"dense", {normal({6, 3}), normal({6, 4}), normal({4, 3})}},
           {"broadcast_self", {normal({3}), normal({6, 4}), normal({4, 3})}},
           {"transposed", {normal({6, 3}), transposed(normal({6, 4})), normal({4, 3})}}},
          kReduce),
      make_row(
          "baddbmm", [](In in) { return baddbmm(in[0], in[1], in[2], -1.0, 0.25); },
          {{"broadcast_self", {normal({1, 6, 3}), normal({2, 6, 4}), normal({2, 4, 3})}},
           {"strided", {normal({2, 6, 3}), strided(normal({2, 6, 4})), normal({2, 4, 3})}}},
          kReduce),
      make_row(
          "linear", [](In in) { return linear(in[0], in[1], in[2]); },
          {{"3d", {normal({5, 2, 8}), normal({3, 8}), normal({3})}},
           {"transposed", {transposed(normal({5, 8})), normal({3, 8}), normal({3})}},
           {"empty", {normal({0, 8}), normal({3, 8}), normal({3})}}},
          kReduce),
      make_row(
          "linear/no_bias", [](In in) { return linear(in[0], in[1]); },
          {{"dense", {normal({5, 8}), normal({3, 8})}}}, kReduce),
      make_row(
          "einsum/bij_bjk",
          [](In in) {
            return einsum("bij,bjk->bik", {in[0], in[1]});
          },
          {{"dense", {normal({2, 3, 4}), normal({2, 4, 5})}},
           {"transposed", {transposed(normal({2, 3, 4})), normal({2, 4, 5})}}},
          kReduce),
      make_row(
          "einsum/trace_outer",
          [](In in) {
            return einsum("ii,j->j", {in[0], in[1]});
          },
          {{"dense", {normal({4, 4}), normal({3})}}}, kReduce),
      make_row(
          "einsum/sum_transpose", [](In in) { return einsum("ijk->ki", {in[0]}); },
          {{"dense", {normal({3, 4, 5})}}, {"empty", {normal({3, 0, 5})}}}, kReduce),
      // group_sizes is host metadata: a CPU tensor on every device. Empty groups and a group
      // larger than one tile are included.
      make_row(
          "grouped_matmul", [sizes](In in) { return grouped_matmul(in[0], in[1], sizes(in[0])); },
          {{"dense", {normal({100, 12}), normal({6, 12, 7})}},
           {"transposed_x", {transposed(normal({100, 12})), normal({6, 12, 7})}},
           {"small", {normal({7, 4}), normal({6, 4, 3})}}},
          kReduce),
      make_row(
          "grouped_matmul/bias",
          [sizes](In in) { return grouped_matmul(in[0], in[1], sizes(in[0]), in[2]); },
          {{"dense", {normal({100, 12}), normal({6, 12, 7}), normal({6, 7})}},
           {"small", {normal({7, 4}), normal({6, 4, 3}), normal({6, 3})}}},
          kReduce),
      make_row(
          "grouped_matmul/no_rows",
          [](In in) {
            return grouped_matmul(in[0], in[1], tensor<int64_t>({0, 0}));
          },
          {{"empty", {normal({0, 12}), normal({2, 12, 7})}}}, kReduce),
  };
  // Products as sums of broadcast element-wise products.
  const auto product = [](const Tensor& a, const Tensor& b) {
    return sum(unsqueeze(a, -1) * unsqueeze(b, -3), {-2});
  };
  row_named(rows, "mm").composite = [product](In in) { return product(in[0], in[1]); };
  row_named(rows, "bmm").composite = [product](In in) { return product(in[0], in[1]); };
  row_named(rows, "addmm").composite = [product](In in) {
    return in[0] * 0.5 + product(in[1], in[2]) * 2.0;
  };
  row_named(rows, "baddbmm").composite = [product](In in) {
    return in[0] * -1.0 + product(in[1], in[2]) * 0.25;
  };
  row_named(rows, "linear").composite = [](In in) { return matmul(in[0], t(in[1])) + in[2]; };
  runs_in_half(row_named(rows, "matmul"), kHalfTol, kBFloat16Tol);
  runs_in_half(row_named(rows, "bmm"), kHalfTol, kBFloat16Tol);
  return rows;
}

std::vector<OpInfo> normalization_rows() {
  // Running statistics live on the input's device, fresh for each call.
  const auto bn = [](bool training, bool stats_out) {
    return [=](In in) {
      const int64_t c = in[0].size(1);
      Tensor mean = zeros({c}, options_of(in[0])), var = ones({c}, options_of(in[0]));
      Tensor y = batch_norm(in[0], mean, var, in[1], in[2], training, 0.3);
      return stats_out ? cat({mean, var}) : y;
    };
  };
  std::vector<OpInfo> rows = {
      make_row(
          "layer_norm", [](In in) { return layer_norm(in[0], {10}, in[1], in[2]); },
          {{"dense", {normal({4, 6, 10}), normal({10}), normal({10})}},
           {"empty", {normal({0, 10}), normal({10}), normal({10})}}},
          kReduce),
      make_row(
          "layer_norm/2d_shape",
          [](In in) {
            return layer_norm(in[0], {6, 10}, in[1], in[2], 1e-3);
          },
          {{"dense", {normal({4, 6, 10}), normal({6, 10}), normal({6, 10})}}}, kReduce),
      make_row(
          "layer_norm/no_affine", [](In in) { return layer_norm(in[0], {6}); },
          {{"transposed", {transposed(normal({3, 10, 6}))}}}, kReduce),
      make_row(
          "layer_norm/last_dim",
          [](In in) { return layer_norm(in[0], {in[0].size(-1)}, in[1], in[2]); },
          {{"wide", {normal({8, 4099}), normal({4099}), normal({4099})}},
           {"d64", {normal({8, 64}), normal({64}), normal({64})}},
           {"small", {normal({2, 9}), normal({9}), normal({9})}}},
          kReduce),
      make_row("batch_norm/train", bn(true, false),
               {{"4d", {normal({8, 3, 5, 5}), normal({3}), normal({3})}},
                {"2d_input", {normal({16, 5}), normal({5}), normal({5})}},
                {"transposed", {transposed(normal({4, 3, 5, 6})), normal({3}), normal({3})}}},
               kReduce),
      make_row("batch_norm/running_stats", bn(true, true),
               {{"4d", {normal({8, 3, 5, 5}), normal({3}), normal({3})}}}, kReduce, false),
      make_row("batch_norm/eval", bn(false, false),
               {{"3d", {normal({8, 3, 5}), normal({3}), normal({3})}}}, kReduce),
      make_row(
          "group_norm", [](In in) { return group_norm(in[0], 3, in[1], in[2]); },
          {{"4d", {normal({2, 6, 4, 3}), normal({6}), normal({6})}},
           {"empty", {normal({0, 6, 2}), normal({6}), normal({6})}}},
          kReduce),
      make_row(
          "group_norm/no_affine", [](In in) { return group_norm(in[0], 2); },
          {{"3d", {normal({2, 4, 7})}}, {"strided", {strided(normal({2, 4, 7}))}}}, kReduce),
      make_row(
          "rms_norm", [](In in) { return rms_norm(in[0], in[1]); },
          {{"dense", {normal({4, 6, 10}), normal({10})}},
           {"transposed", {transposed(normal({3, 6, 10})), normal({10})}},
           {"empty", {normal({0, 10}), normal({10})}}},
          kReduce),
      make_row(
          "rms_norm_reference", [](In in) { return rms_norm_reference(in[0], in[1], 1e-5); },
          {{"dense", {normal({4, 10}), normal({10})}},
           {"strided", {strided(normal({4, 10})), normal({10})}}},
          kReduce),
  };
  row_named(rows, "layer_norm").composite = [](In in) {
    const Tensor centred = in[0] - mean(in[0], {-1}, true);
    return centred / sqrt(mean(square(centred), {-1}, true) + 1e-5) * in[1] + in[2];
  };
  row_named(rows, "rms_norm").composite = [](In in) { return rms_norm_reference(in[0], in[1]); };
  runs_in_half(row_named(rows, "layer_norm/last_dim"), kHalfChainTol, kBFloat16ChainTol, false);
  runs_in_half(row_named(rows, "layer_norm"), kHalfChainTol, kBFloat16ChainTol, false);
  return rows;
}

std::vector<OpInfo> loss_rows() {
  constexpr int64_t kClasses = 7;
  std::vector<OpInfo> rows = {
      make_row(
          "cross_entropy", [](In in) { return cross_entropy(in[0], in[1]); },
          {{"dense", {normal({9, kClasses}), index({9}, kClasses)}},
           {"transposed", {transposed(normal({9, kClasses})), index({9}, kClasses, kInt32)}},
           {"unbatched", {normal({kClasses}), index({}, kClasses)}},
           {"large_vocab", {normal({16, 50000}), index({16}, 50000)}, kLargeReduce}},
          kReduce),
      make_row(
          "cross_entropy/sum_smoothing",
          [](In in) { return cross_entropy(in[0], in[1], Reduction::Sum, 0.1); },
          {{"dense", {normal({9, kClasses}), index({9}, kClasses)}}}, kReduce),
      // Targets in [-1, C): -1 is ignored.
      make_row(
          "cross_entropy/ignore_index",
          [](In in) { return cross_entropy(in[0], in[1] - 1, Reduction::Mean, 0.0, -1); },
          {{"dense", {normal({30, kClasses}), index({30}, kClasses + 1)}}}, kReduce),
      make_row(
          "cross_entropy/spatial",
          [](In in) { return cross_entropy(in[0], in[1], Reduction::None); },
          {{"dense", {normal({2, kClasses, 3, 4}), index({2, 3, 4}, kClasses)}}}, kReduce),
      make_row(
          "cross_entropy/weight",
          [](In in) { return cross_entropy(in[0], in[1], Reduction::Mean, 0.0, -100, in[2]); },
          {{"dense",
            {normal({9, kClasses}), index({9}, kClasses), constant(positive({kClasses}))}}},
          kReduce),
      make_row(
          "cross_entropy/probabilities",
          [](In in) { return cross_entropy(in[0], softmax(in[1], 1)); },
          {{"dense", {normal({9, kClasses}), normal({9, kClasses})}}}, kReduce),
      make_row(
          "nll_loss", [](In in) { return nll_loss(log_softmax(in[0], 1), in[1]); },
          {{"dense", {normal({9, kClasses}), index({9}, kClasses)}},
           {"empty", {normal({0, kClasses}), index({0}, kClasses)}}},
          kReduce),
      make_row(
          "nll_loss/weight_sum",
          [](In in) { return nll_loss(in[0], in[1], Reduction::Sum, -100, in[2]); },
          {{"dense",
            {normal({9, kClasses}), index({9}, kClasses), constant(positive({kClasses}))}}},
          kReduce),
      make_row(
          "mse_loss", [](In in) { return mse_loss(in[0], in[1]); },
          {{"dense", {normal({4, 5}), normal({4, 5})}}, {"0-dim", {normal({}), normal({})}}},
          kReduce),
      make_row(
          "mse_loss/none", [](In in) { return mse_loss(in[0], in[1], Reduction::None); },
          {{"strided", {strided(normal({4, 5})), normal({4, 5})}},
           {"empty", {normal({0, 5}), normal({0, 5})}}},
          kReduce),
      make_row(
          "l1_loss", [](In in) { return l1_loss(in[0], in[1], Reduction::Sum); },
          {{"dense", {normal({4, 5}), normal({4, 5})}},
           {"transposed", {transposed(normal({4, 5})), normal({4, 5})}}},
          kReduce),
      make_row(
          "smooth_l1_loss",
          [](In in) { return smooth_l1_loss(in[0], in[1], Reduction::Mean, 0.5); },
          {{"dense", {normal({4, 5}), normal({4, 5})}}}, kReduce),
      make_row(
          "binary_cross_entropy_with_logits",
          [](In in) {
            return binary_cross_entropy_with_logits(in[0] * 4.0, (in[1] - 0.5) / 1.5,
                                                    Reduction::Mean, in[2], in[3]);
          },
          {{"weights", {normal({6, 3}), positive({6, 3}), positive({3}), positive({3})}}}, kReduce),
      make_row(
          "binary_cross_entropy",
          [](In in) {
            return binary_cross_entropy(sigmoid(in[0]), (in[1] - 0.5) / 1.5, Reduction::Sum);
          },
          {{"dense", {normal({6, 3}), positive({6, 3})}},
           {"strided", {strided(normal({6, 3})), positive({6, 3})}}},
          kReduce),
  };
  row_named(rows, "cross_entropy").composite = [](In in) {
    return nll_loss(log_softmax(in[0], -1), in[1]);
  };
  row_named(rows, "mse_loss").composite = [](In in) { return mean(square(in[0] - in[1])); };
  row_named(rows, "l1_loss").composite = [](In in) { return sum(abs(in[0] - in[1])); };
  row_named(rows, "smooth_l1_loss").composite = [](In in) {
    const Tensor d = abs(in[0] - in[1]);
    return mean(where(lt(d, 0.5), square(d), d - 0.25));
  };
  runs_in_half(row_named(rows, "cross_entropy"), kHalfChainTol, kBFloat16ChainTol, false);
  return rows;
}

std::vector<OpInfo> conv_pool_rows() {
  std::vector<OpInfo> rows = {
      make_row(
          "conv2d", [](In in) { return conv2d(in[0], in[1], in[2]); },
          {{"dense", {normal({2, 3, 9, 8}), normal({4, 3, 3, 3}), normal({4})}},
           {"transposed_input",
            {transposed(normal({2, 3, 8, 9})), normal({4, 3, 3, 3}), normal({4})}},
           {"unbatched", {normal({3, 6, 5}), normal({2, 3, 3, 3}), normal({2})}},
           {"empty_batch", {normal({0, 3, 5, 5}), normal({2, 3, 3, 3}), normal({2})}},
           {"larger", {normal({8, 16, 32, 32}), normal({32, 16, 3, 3}), normal({32})}}},
          kReduce),
      make_row(
          "conv2d/stride_pad_dilation",
          [](In in) {
            return conv2d(in[0], in[1], in[2],
                          {.stride = {2, 1}, .padding = {1, 2}, .dilation = 2});
          },
          {{"dense", {normal({2, 3, 11, 10}), normal({5, 3, 3, 2}), normal({5})}}}, kReduce),
      make_row(
          "conv2d/groups", [](In in) { return conv2d(in[0], in[1], Tensor(), {.groups = 2}); },
          {{"dense", {normal({2, 4, 7, 7}), normal({6, 2, 3, 3})}}}, kReduce),
      make_row(
          "conv2d/same",
          [](In in) { return conv2d(in[0], in[1], Tensor(), {.padding = Padding::Same}); },
          {{"dense", {normal({1, 2, 6, 5}), normal({3, 2, 4, 3})}}}, kReduce),
      make_row(
          "conv2d/padded_larger", [](In in) { return conv2d(in[0], in[1], in[2], {.padding = 1}); },
          {{"dense", {normal({8, 16, 32, 32}), normal({32, 16, 3, 3}), normal({32})}},
           {"small", {normal({1, 2, 5, 5}), normal({3, 2, 3, 3}), normal({3})}}},
          kReduce),
      make_row(
          "conv1d", [](In in) { return conv1d(in[0], in[1], in[2], {.stride = 2, .padding = 1}); },
          {{"dense", {normal({3, 4, 20}), normal({6, 4, 5}), normal({6})}},
           {"unbatched", {normal({4, 9}), normal({6, 4, 5}), normal({6})}},
           {"strided", {strided(normal({3, 4, 20})), normal({6, 4, 5}), normal({6})}}},
          kReduce),
      make_row("max_pool2d",
               [](In in) { return max_pool2d(in[0], 3, {.stride = 2, .padding = 1}); },
               {{"dense", {normal({2, 3, 9, 8})}},
                {"transposed", {transposed(normal({2, 3, 8, 9}))}},
                {"unbatched", {normal({3, 6, 6})}}}),
      make_row("max_pool2d/dilation_ceil",
               [](In in) {
                 return max_pool2d(in[0], 2, {.stride = 2, .dilation = 2, .ceil_mode = true});
               },
               {{"dense", {normal({2, 3, 10, 9})}}}),
      make_row(
          "max_pool2d_with_indices",
          [](In in) {
            return max_pool2d_with_indices(in[0], {3, 2}).second;
          },
          {{"dense", {normal({2, 3, 9, 8})}}, {"ties", {index({2, 2, 6, 6}, 2)}}}, kExact, false),
      make_row(
          "avg_pool2d", [](In in) { return avg_pool2d(in[0], 3, {.stride = 2, .padding = 1}); },
          {{"dense", {normal({2, 3, 9, 8})}}, {"strided", {strided(normal({2, 3, 9, 8}))}}},
          kReduce),
      make_row(
          "avg_pool2d/ceil_no_pad_count",
          [](In in) {
            return avg_pool2d(
                in[0], {3, 2},
                {.stride = 2, .padding = 1, .ceil_mode = true, .count_include_pad = false});
          },
          {{"dense", {normal({2, 3, 9, 8})}}}, kReduce),
      make_row(
          "avg_pool2d/divisor", [](In in) { return avg_pool2d(in[0], 2, {.divisor_override = 3}); },
          {{"dense", {normal({1, 2, 6, 6})}}}, kReduce),
      make_row(
          "adaptive_avg_pool2d",
          [](In in) {
            return adaptive_avg_pool2d(in[0], {3, 4});
          },
          {{"dense", {normal({2, 3, 10, 7})}}, {"transposed", {transposed(normal({2, 3, 7, 10}))}}},
          kReduce),
      make_row(
          "adaptive_avg_pool2d/global", [](In in) { return adaptive_avg_pool2d(in[0], 1); },
          {{"dense", {normal({2, 3, 10, 7})}}}, kReduce),
  };
  runs_in_half(row_named(rows, "conv2d"), kHalfTol, kBFloat16Tol, false);
  return rows;
}

std::vector<OpInfo> sequence_rows() {
  std::vector<OpInfo> rows = {
      make_row(
          "scaled_dot_product_attention",
          [](In in) { return scaled_dot_product_attention(in[0], in[1], in[2]); },
          {{"dense", {normal({2, 3, 5, 8}), normal({2, 3, 7, 8}), normal({2, 3, 7, 4})}},
           {"transposed_k",
            {normal({1, 2, 4, 6}), transposed(normal({1, 2, 5, 6})), normal({1, 2, 5, 6})}},
           {"empty_queries", {normal({1, 2, 0, 8}), normal({1, 2, 3, 8}), normal({1, 2, 3, 8})}}},
          kReduce),
      make_row(
          "scaled_dot_product_attention/mask",
          [](In in) { return scaled_dot_product_attention(in[0], in[1], in[2], {.mask = in[3]}); },
          {{"bool_mask",
            {normal({2, 2, 6, 8}), normal({2, 2, 6, 8}), normal({2, 2, 6, 8}), mask({6, 6})}}},
          kReduce),
      make_row(
          "scaled_dot_product_attention_reference",
          [](In in) {
            return scaled_dot_product_attention_reference(in[0], in[1], in[2], {.causal = true});
          },
          {{"dense", {normal({2, 3, 5, 8}), normal({2, 3, 5, 8}), normal({2, 3, 5, 4})}}}, kReduce),
      make_row(
          "attention_probabilities", [](In in) { return attention_probabilities(in[0], in[1]); },
          {{"dense", {normal({2, 3, 5, 8}), normal({2, 3, 7, 8})}},
           {"strided", {strided(normal({1, 2, 4, 6})), normal({1, 2, 5, 6})}}},
          kReduce),
      make_row(
          "apply_rotary", [](In in) { return apply_rotary(in[0], in[1], in[2]); },
          {{"dense", {normal({2, 5, 8}), normal({5, 4}), normal({5, 4})}},
           {"partial", {normal({2, 5, 8}), normal({5, 2}), normal({5, 2})}},
           {"transposed", {transposed(normal({2, 5, 8})), normal({5, 4}), normal({5, 4})}}},
          kArith),
      make_row(
          "apply_rotary/interleaved",
          [](In in) { return apply_rotary(in[0], in[1], in[2], RotaryLayout::Interleaved); },
          {{"dense", {normal({3, 4, 6}), constant(normal({4, 3})), constant(normal({4, 3}))}}},
          kArith),
      make_row(
          "apply_rotary_reference",
          [](In in) {
            return apply_rotary_reference(in[0], in[1], in[2], RotaryLayout::Interleaved);
          },
          {{"dense", {normal({3, 4, 6}), normal({4, 3}), normal({4, 3})}}}, kArith),
      make_row(
          "embedding", [](In in) { return embedding(in[0], in[1]); },
          {{"dense", {normal({10, 4}), index({3, 5}, 10)}},
           {"int32", {normal({10, 4}), index({6}, 10, kInt32)}},
           {"empty", {normal({10, 4}), index({0}, 10)}},
           {"large", {normal({30000, 64}), index({8, 512}, 30000)}},
           {"hot_row", {normal({3, 16}), index({50000}, 3)}, kLargeReduce}},
          kReduce),
      // A fixed generator: the same mask in every call (and on every device, as Philox is).
      make_row("dropout",
               [](In in) {
                 Generator gen(11);
                 return dropout(in[0], 0.3, true, &gen);
               },
               {{"dense", {normal({6, 7})}},
                {"transposed", {transposed(normal({6, 7}))}},
                {"empty", {normal({0, 3})}}}),
      make_row("dropout/eval", [](In in) { return dropout(in[0], 0.3, false); },
               {{"dense", {normal({4, 5})}}}),
  };
  row_named(rows, "scaled_dot_product_attention").composite = [](In in) {
    return scaled_dot_product_attention_reference(in[0], in[1], in[2]);
  };
  row_named(rows, "attention_probabilities").composite = [](In in) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(in[0].size(-1)));
    return softmax(matmul(in[0], transpose(in[1], -2, -1)) * scale, -1);
  };
  row_named(rows, "apply_rotary").composite = [](In in) {
    return apply_rotary_reference(in[0], in[1], in[2]);
  };
  row_named(rows, "apply_rotary/interleaved").composite = [](In in) {
    return apply_rotary_reference(in[0], in[1], in[2], RotaryLayout::Interleaved);
  };
  row_named(rows, "embedding").composite = [](In in) {
    Shape shape = in[1].shape();
    shape.push_back(in[0].size(1));
    return reshape(index_select(in[0], 0, flatten(in[1])), shape);
  };
  row_named(rows, "dropout/eval").composite = [](In in) { return in[0] * 1.0; };
  runs_in_half(row_named(rows, "embedding"), kHalfTol, kBFloat16Tol);
  return rows;
}

// The fused Adam step updates its tensors in place: the row returns them, joined.
std::vector<OpInfo> optimizer_rows() {
  const auto adam = [](bool amsgrad, double l2, double decay) {
    return [=](In in) {
      Tensor p = in[0].detach().clone(), m = in[2].detach().clone(), v = in[3].detach().clone();
      Tensor v_max = amsgrad ? v * 1.5 : Tensor();
      kernels::AdamStep step{.step_size = 0.01, .l2 = l2, .decay = decay, .amsgrad = amsgrad};
      adam_step_(p, in[1].detach(), m, v, v_max, step);
      std::vector<Tensor> parts = {p.flatten(), m.flatten(), v.flatten()};
      if (amsgrad) parts.push_back(v_max.flatten());
      return cat(parts);
    };
  };
  const std::vector<Sample> samples = {
      {"dense", {normal({5, 4}), normal({5, 4}), normal({5, 4}), positive({5, 4})}},
      {"empty", {normal({0, 4}), normal({0, 4}), normal({0, 4}), positive({0, 4})}}};
  return {make_row("adam_step_", adam(false, 0.0, 0.0), samples, kArith, false),
          make_row("adam_step_/amsgrad_l2", adam(true, 0.1, 0.0), samples, kArith, false),
          make_row("adam_step_/adamw", adam(false, 0.0, 0.001), samples, kArith, false)};
}

}  // namespace

std::vector<OpInfo> nn_rows() {
  return join_rows(
      {product_rows, normalization_rows, loss_rows, conv_pool_rows, sequence_rows, optimizer_rows});
}

}  // namespace mixgrad::testing
