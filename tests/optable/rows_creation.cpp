// Rows of the factory functions: constant fills, ranges and seeded random fills (checked for
// their values where those are fixed, and for being the same from the same seed).
#include "optable/row_builder.h"

namespace mixgrad::testing {

namespace {

// A factory with no tensor input: one sample without arguments.
OpInfo factory(std::string name, std::function<Tensor()> make) {
  OpInfo r = make_row(
      std::move(name), [make = std::move(make)](In) { return make(); }, {{"none", {}}}, kExact,
      false);
  r.float32 = false;
  return r;
}

}  // namespace

std::vector<OpInfo> creation_rows() {
  std::vector<OpInfo> rows = {
      factory("zeros",
              [] {
                return zeros({2, 3});
              }),
      factory("zeros/empty",
              [] {
                return zeros({0, 3}, kInt64);
              }),
      factory("ones", [] { return ones({3}, kFloat64); }),
      factory("full",
              [] {
                return full({2, 2}, 2.5);
              }),
      factory("full/0-dim", [] { return full({}, 7, kInt32); }),
      factory("scalar_tensor", [] { return scalar_tensor(-1.25, kFloat64); }),
      factory("arange", [] { return arange(7); }),
      factory("arange/step", [] { return arange(1.0, -2.0, -0.5, kFloat64); }),
      factory("arange/empty", [] { return arange(3, 3); }),
      factory("linspace", [] { return linspace(-1, 1, 9, kFloat64); }),
      factory("linspace/one", [] { return linspace(2, 5, 1); }),
      factory("eye", [] { return eye(3); }),
      factory("eye/rect", [] { return eye(2, 4, kInt64); }),
      factory("tensor",
              [] {
                return tensor({{1.0, 2.0}, {3.0, 4.0}});
              }),
      factory("rand",
              [] {
                Generator gen(3);
                return rand({4, 5}, kFloat64, &gen);
              }),
      factory("randn",
              [] {
                Generator gen(3);
                return randn({4, 5}, {}, &gen);
              }),
      factory("randint",
              [] {
                Generator gen(3);
                return randint(-5, 5, {30}, {}, &gen);
              }),
      factory("randperm",
              [] {
                Generator gen(3);
                return randperm(50, {}, &gen);
              }),
  };
  const auto like = [](std::string name, OpFn fn, Arg arg) {
    return make_row(
        std::move(name), std::move(fn),
        {{"dense", {arg}}, {"transposed", {transposed(arg)}}, {"empty", {normal({0, 2})}}}, kExact,
        false);
  };
  rows.push_back(like(
      "zeros_like", [](In in) { return zeros_like(in[0]); }, normal({3, 4})));
  rows.push_back(like(
      "ones_like", [](In in) { return ones_like(in[0], kInt32); }, normal({3, 4})));
  rows.push_back(like(
      "full_like", [](In in) { return full_like(in[0], 0.5); }, normal({3, 4})));
  rows.push_back(like(
      "rand_like",
      [](In in) {
        Generator gen(5);
        return rand_like(in[0], &gen);
      },
      normal({3, 4})));
  rows.push_back(like(
      "randn_like",
      [](In in) {
        Generator gen(5);
        return randn_like(in[0], &gen);
      },
      normal({3, 4})));
  // Random fills in float32 and float64 draw differently: compared across devices only.
  for (OpInfo& r : rows)
    if (r.op().rfind("rand", 0) == 0) r.float32 = false;
  return rows;
}

const std::vector<std::pair<std::string, std::string>>& not_ops() {
  static const std::vector<std::pair<std::string, std::string>> names = {
      {"result_type", "the promotion rule (a dtype, no tensor): tests/ops/binary_test.cpp"},
      {"expert_capacity", "an integer formula: tests/ops/moe_routing_test.cpp"},
  };
  return names;
}

}  // namespace mixgrad::testing
