// Rows of the view, join and copy ops.
#include "optable/row_builder.h"

namespace mixgrad::testing {

namespace {

std::vector<OpInfo> view_rows() {
  const std::vector<Sample> x345 = layout_samples(normal, true);
  return {
      make_row("view",
               [](In in) {
                 return view(in[0].contiguous(), {4, -1});
               },
               {{"dense", {normal({2, 2, 5})}}, {"empty", {normal({0, 4})}}}),
      make_row("reshape",
               [](In in) {
                 return reshape(in[0], {-1, 5});
               },
               {{"dense", {normal({3, 4, 5})}},
                {"transposed", {transposed(normal({3, 4, 5}))}},
                {"strided", {strided(normal({3, 4, 5}))}},
                {"empty", {normal({0, 5})}}}),
      make_row(
          "permute",
          [](In in) {
            return permute(in[0], {2, 0, 1});
          },
          x345),
      make_row(
          "transpose", [](In in) { return transpose(in[0], 0, 2) * 1.0; }, x345),
      make_row("t", [](In in) { return t(in[0]) * 1.0; },
               {{"dense", {normal({3, 5})}},
                {"strided", {strided(normal({3, 5}))}},
                {"1-d", {normal({4})}},
                {"empty", {normal({0, 2})}}}),
      make_row("narrow", [](In in) { return narrow(in[0], 1, 1, 2); },
               {{"dense", {normal({3, 4, 5})}},
                {"transposed", {transposed(normal({3, 4, 5}))}},
                {"empty", {normal({0, 4, 2})}}}),
      make_row(
          "slice", [](In in) { return slice(in[0], -1, 1, std::nullopt, 2); }, x345),
      make_row("select", [](In in) { return select(in[0], 1, -1); },
               {{"dense", {normal({3, 4, 5})}},
                {"strided", {strided(normal({3, 4, 5}))}},
                {"empty", {normal({0, 4, 5})}}}),
      make_row("expand",
               [](In in) {
                 return expand(in[0], {2, 3, 4});
               },
               {{"dense", {normal({3, 1})}},
                {"0-dim", {normal({})}},
                {"strided", {strided(normal({3, 4}))}}}),
      make_row("squeeze", [](In in) { return squeeze(in[0]); },
               {{"dense", {normal({3, 1, 5, 1})}},
                {"empty", {normal({0, 1})}},
                {"0-dim", {normal({})}}}),
      make_row("squeeze/dim", [](In in) { return squeeze(in[0], 1); },
               {{"dense", {normal({3, 1, 5})}},
                {"not_one", {normal({3, 2})}},
                {"empty", {normal({0, 1})}}}),
      make_row("unsqueeze", [](In in) { return unsqueeze(in[0], -1); },
               {{"dense", {normal({3, 5})}},
                {"transposed", {transposed(normal({3, 5}))}},
                {"0-dim", {normal({})}},
                {"empty", {normal({0})}}}),
      make_row(
          "flatten", [](In in) { return flatten(in[0], 1); }, x345),
      make_row("unflatten",
               [](In in) {
                 return unflatten(in[0], -1, {2, -1});
               },
               {{"dense", {normal({3, 6})}},
                {"transposed", {transposed(normal({4, 6}))}},
                {"empty", {normal({0, 4})}}}),
      make_row(
          "diagonal", [](In in) { return diagonal(in[0], 1, 0, 2); }, x345),
      // as_strided is not differentiable (as PyTorch's, whose gradient is approximate).
      make_row(
          "as_strided",
          [](In in) {
            return as_strided(in[0].detach().contiguous(), {3, 3}, {1, 2}, 1);
          },
          {{"overlapping", {normal({4, 5})}}, {"small", {normal({2, 5})}}}, kExact, false),
  };
}

std::vector<OpInfo> join_rows() {
  std::vector<OpInfo> rows = {
      make_row("cat", [](In in) { return cat(in, 0); },
               {{"dim0", {normal({2, 5}), normal({3, 5}), normal({1, 5})}},
                {"with_empty", {normal({2, 5}), normal({0, 5}), normal({3, 5})}},
                {"promote", {normal({2, 5}, kFloat32), normal({3, 5}), index({1, 5}, 9)}},
                {"0-size_1d", {normal({0}), normal({4})}}}),
      make_row("cat/dim1", [](In in) { return cat(in, 1); },
               {{"views", {transposed(normal({2, 5})), strided(normal({2, 3})), normal({2, 4})}},
                {"large", {normal({1000, 300}), normal({1000, 77})}}}),
      make_row("stack", [](In in) { return stack(in, 0); },
               {{"dim0", {normal({3, 4}), normal({3, 4})}},
                {"0-dim", {normal({}), normal({})}},
                {"empty", {normal({0, 2}), normal({0, 2})}}}),
      make_row("stack/dim2", [](In in) { return stack(in, 2); },
               {{"views", {transposed(normal({3, 4})), normal({3, 4}), strided(normal({3, 4}))}}}),
      make_row("split",
               [](In in) {
                 std::vector<Tensor> parts = split(in[0], 3, 0);
                 return cat({parts[2], parts[0], parts[1]}, 0);
               },
               {{"recat", {normal({7, 4})}}, {"transposed", {transposed(normal({7, 4}))}}}),
      make_row("split/sizes",
               [](In in) {
                 std::vector<Tensor> parts = split(in[0], std::vector<int64_t>{1, 0, 3}, 1);
                 return cat({parts[2], parts[1], parts[0]}, 1);
               },
               {{"dense", {normal({2, 4})}}, {"empty", {normal({0, 4})}}}),
      make_row(
          "chunk", [](In in) { return chunk(in[0], 3, 1)[1] * 2.0; },
          {{"dim1", {normal({4, 9})}},
           {"uneven", {normal({4, 8})}},
           {"strided", {strided(normal({4, 9}))}}},
          kArith),
      make_row(
          "repeat",
          [](In in) {
            return repeat(in[0], {2, 1, 3});
          },
          {{"dense", {normal({2, 3})}},
           {"transposed", {transposed(normal({2, 3}))}},
           {"empty", {normal({0, 3})}},
           {"0-dim", {normal({})}}},
          kReduce),
  };
  runs_in_half(row_named(rows, "cat"), kExact, kExact);
  return rows;
}

std::vector<OpInfo> copy_rows() {
  const auto cast = [](std::string name, DType target, std::vector<Sample> samples,
                       double scale = 1) {
    // Gradients only from floating sources into float64: a float32 result is too coarse for
    // finite differences.
    const bool differentiable = target == kFloat64 && name.starts_with("f");
    OpInfo r = make_row(
        "to/" + std::move(name),
        [target, scale](In in) { return to(scale == 1 ? in[0] : in[0] * scale, target); },
        std::move(samples), kExact, differentiable);
    r.float32 = false;  // the target dtype is the row's point
    return r;
  };
  std::vector<OpInfo> rows = {
      cast("f64->f32", kFloat32,
           {{"dense", {normal({5, 7})}}, {"transposed", {transposed(normal({7, 5}))}}}),
      cast("f32->f64", kFloat64,
           {{"dense", {normal({5, 7}, kFloat32)}}, {"empty", {normal({0, 3}, kFloat32)}}}),
      cast("f64->i32", kInt32, {{"dense", {normal({5, 7})}}}, 100),
      cast("f64->i64", kInt64, {{"dense", {normal({5, 7})}}}, 1e6),
      cast("i64->f64", kFloat64, {{"dense", {index({5, 7}, 1 << 30)}}}),
      cast("i64->i32", kInt32, {{"dense", {index({5, 7}, 1 << 30)}}}),
      cast("bool->f32", kFloat32, {{"dense", {mask({5, 7})}}}),
      make_row(
          "to/bool", [](In in) { return to(round(in[0]), kBool); }, {{"dense", {normal({5, 7})}}},
          kExact, false),
      make_row("to/device", [](In in) { return to(in[0], Device::cpu()) * 1.0; },
               {{"dense", {normal({3, 4})}}, {"strided", {strided(normal({3, 4}))}}}),
      make_row("clone", [](In in) { return clone(in[0]); },
               {{"strided", {strided(normal({3, 5}))}},
                {"0-dim", {normal({})}},
                {"empty", {normal({0, 2})}}}),
      make_row("contiguous",
               [](In in) {
                 Tensor c = contiguous(in[0]);
                 if (!c.is_contiguous())
                   throw std::logic_error("contiguous() gave a strided tensor");
                 return c;
               },
               {{"transposed", {transposed(normal({6, 9}))}},
                {"empty", {transposed(normal({0, 3}))}},
                {"dense", {normal({3, 4})}}}),
      make_row("contiguous/permuted",
               [](In in) {
                 return contiguous(permute(in[0], {2, 0, 1}));
               },
               {{"dense", {normal({3, 4, 5})}}}),
      make_row("contiguous/expanded",
               [](In in) {
                 return contiguous(expand(in[0], {4, 3, 5}));
               },
               {{"dense", {normal({3, 1})}}}),
  };
  // Its result is on the CPU by design: the CUDA suite's device check does not apply (copies
  // between devices are tests/cuda/cuda_runtime_test.cpp's).
  row_named(rows, "to/device").cuda = false;
  return rows;
}

}  // namespace

std::vector<OpInfo> shape_rows() {
  return join_rows({view_rows, join_rows, copy_rows});
}

}  // namespace mixgrad::testing
