// The table's inputs and standard samples, and the table itself (the rows are in rows_*.cpp).
#include <utility>

#include "optable/row_builder.h"

namespace mixgrad::testing {

Tensor make_dense(const Arg& a, Generator& gen) {
  Shape s = a.shape;
  if (a.layout == Layout::Transposed) std::swap(s[s.size() - 2], s[s.size() - 1]);
  if (a.layout == Layout::Strided) s.back() *= 2;
  switch (a.fill) {
    case Fill::Normal:
      return randn(s, a.dtype, &gen);
    case Fill::Positive:
      return rand(s, a.dtype, &gen) * 1.5 + 0.5;
    case Fill::Index:
      return randint(0, a.high, s, a.dtype, &gen);
    case Fill::Mask:
      return randint(0, 2, s, kInt64, &gen).to(kBool);
  }
  return Tensor();
}

Tensor view_of(const Tensor& dense, Layout layout) {
  switch (layout) {
    case Layout::Contiguous:
      return dense;
    case Layout::Transposed:
      return dense.transpose(-2, -1);
    case Layout::Strided:
      return dense.slice(dense.dim() - 1, 0, std::nullopt, 2);
  }
  return dense;
}

Inputs make_inputs(const Sample& sample, uint64_t seed, std::optional<DType> floating_dtype) {
  Generator gen(seed);
  Inputs in;
  for (const Arg& a : sample.args) {
    Tensor dense = make_dense(a, gen);
    if (floating_dtype && dense.is_floating_point()) dense = dense.to(*floating_dtype);
    in.leaves.push_back(dense);
    in.views.push_back(view_of(dense, a.layout));
  }
  return in;
}

std::vector<Sample> unary_samples(Arg (*make)(Shape, DType)) {
  return {
      {"dense", {make({3, 5}, kFloat64)}},
      {"transposed", {transposed(make({4, 6}, kFloat64))}},
      {"strided", {strided(make({2, 3, 4}, kFloat64))}},
      {"empty", {make({0, 4}, kFloat64)}},
      {"0-dim", {make({}, kFloat64)}},
      {"large", {make({1000, 257}, kFloat64)}},
  };
}

std::vector<Sample> binary_samples(Arg (*make_a)(Shape, DType), Arg (*make_b)(Shape, DType)) {
  return {
      {"same", {make_a({4, 5}, kFloat64), make_b({4, 5}, kFloat64)}},
      {"broadcast", {make_a({3, 1, 5}, kFloat64), make_b({4, 1}, kFloat64)}},
      {"row", {make_a({6, 7}, kFloat64), make_b({7}, kFloat64)}},
      {"transposed", {transposed(make_a({5, 4}, kFloat64)), make_b({5, 4}, kFloat64)}},
      {"strided", {strided(make_a({3, 8}, kFloat64)), make_b({8}, kFloat64)}},
      {"empty", {make_a({0, 5}, kFloat64), make_b({1, 5}, kFloat64)}},
      {"0-dim", {make_a({2, 3}, kFloat64), make_b({}, kFloat64)}},
      {"large", {make_a({513, 1031}, kFloat64), make_b({1031}, kFloat64)}},
  };
}

std::vector<Sample> layout_samples(Arg (*make)(Shape, DType), bool with_empty) {
  std::vector<Sample> s = {
      {"dense", {make({3, 4, 5}, kFloat64)}},
      {"transposed", {transposed(make({3, 4, 5}, kFloat64))}},
      {"strided", {strided(make({3, 4, 5}, kFloat64))}},
  };
  if (with_empty) s.push_back({"empty", {make({3, 0, 5}, kFloat64)}});
  return s;
}

const std::vector<OpInfo>& op_table() {
  static const std::vector<OpInfo> table =
      join_rows({elementwise_rows, reduction_rows, shape_rows, index_rows, nn_rows, creation_rows});
  return table;
}

}  // namespace mixgrad::testing
