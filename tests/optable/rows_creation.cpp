// Rows of the factory functions. A factory takes no tensor input and runs on the CPU here (the
// CUDA side of the fills is tests/cuda/cuda_random_test.cpp); its composite reference is the
// expected tensor written out (constant fills, ranges), or the same call again for seeded random
// fills, which must repeat exactly. The *_like forms take an input, whose shape, dtype and device
// they follow.
#include <cstdint>

#include "optable/row_builder.h"

namespace mixgrad::testing {

namespace {

OpInfo factory(std::string name, std::function<Tensor()> make, std::function<Tensor()> expected) {
  OpInfo r = make_row(
      std::move(name), [make](In) { return make(); }, {{"none", {}}}, kExact, false);
  r.composite = [expected = std::move(expected)](In) { return expected(); };
  r.float32 = false;
  r.cuda = false;
  return r;
}

// A seeded random factory: the same seed gives the same values.
OpInfo seeded(std::string name, std::function<Tensor()> make) {
  return factory(std::move(name), make, make);
}

}  // namespace

std::vector<OpInfo> creation_rows() {
  std::vector<OpInfo> rows = {
      factory(
          "zeros",
          [] {
            return zeros({2, 3});
          },
          [] {
            return tensor(std::vector<float>(6, 0.0f), Shape{2, 3});
          }),
      factory(
          "zeros/empty",
          [] {
            return zeros({0, 3}, kInt64);
          },
          [] {
            return tensor(std::vector<int64_t>{}, Shape{0, 3});
          }),
      factory(
          "ones", [] { return ones({3}, kFloat64); },
          [] {
            return tensor({1.0, 1.0, 1.0});
          }),
      factory(
          "full",
          [] {
            return full({2, 2}, 2.5);
          },
          [] {
            return tensor({{2.5f, 2.5f}, {2.5f, 2.5f}});
          }),
      factory(
          "full/0-dim", [] { return full({}, 7, kInt32); },
          [] { return tensor(std::vector<int32_t>{7}, Shape{}); }),
      factory(
          "scalar_tensor", [] { return scalar_tensor(-1.25, kFloat64); },
          [] { return tensor(std::vector<double>{-1.25}, Shape{}); }),
      factory(
          "arange", [] { return arange(7); },
          [] {
            return tensor<int64_t>({0, 1, 2, 3, 4, 5, 6});
          }),
      factory(
          "arange/step", [] { return arange(1.0, -2.0, -0.5, kFloat64); },
          [] {
            return tensor({1.0, 0.5, 0.0, -0.5, -1.0, -1.5});
          }),
      factory(
          "arange/empty", [] { return arange(3, 3); },
          [] { return tensor(std::vector<int64_t>{}, Shape{0}); }),
      factory(
          "linspace", [] { return linspace(-1, 1, 5, kFloat64); },
          [] {
            return tensor({-1.0, -0.5, 0.0, 0.5, 1.0});
          }),
      factory(
          "linspace/one", [] { return linspace(2, 5, 1); }, [] { return tensor({2.0f}); }),
      factory(
          "eye", [] { return eye(3); },
          [] {
            return tensor({{1.0f, 0.0f, 0.0f}, {0.0f, 1.0f, 0.0f}, {0.0f, 0.0f, 1.0f}});
          }),
      factory(
          "eye/rect", [] { return eye(2, 4, kInt64); },
          [] {
            return tensor(std::vector<int64_t>{1, 0, 0, 0, 0, 1, 0, 0}, Shape{2, 4});
          }),
      factory(
          "tensor",
          [] {
            return tensor({{1.0, 2.0}, {3.0, 4.0}});
          },
          [] {
            return tensor(std::vector<double>{1, 2, 3, 4}, Shape{2, 2});
          }),
      seeded("rand",
             [] {
               Generator gen(3);
               return rand({4, 5}, kFloat64, &gen);
             }),
      seeded("randn",
             [] {
               Generator gen(3);
               return randn({4, 5}, {}, &gen);
             }),
      seeded("randint",
             [] {
               Generator gen(3);
               return randint(-5, 5, {30}, {}, &gen);
             }),
      seeded("randperm",
             [] {
               Generator gen(3);
               return randperm(50, {}, &gen);
             }),
  };
  // The *_like forms follow their input (on CUDA too).
  const auto like = [](std::string name, OpFn fn, OpFn expected, Tol tol = kExact) {
    OpInfo r = make_row(std::move(name), std::move(fn),
                        {{"dense", {normal({3, 4})}},
                         {"transposed", {transposed(normal({3, 4}))}},
                         {"empty", {normal({0, 2})}}},
                        tol, false);
    r.composite = std::move(expected);
    return r;
  };
  rows.push_back(like(
      "zeros_like", [](In in) { return zeros_like(in[0]); }, [](In in) { return in[0] * 0.0; }));
  rows.push_back(like(
      "ones_like", [](In in) { return ones_like(in[0], kInt32); },
      [](In in) { return to(in[0] * 0.0 + 1.0, kInt32); }));
  rows.push_back(like(
      "full_like", [](In in) { return full_like(in[0], 0.5); },
      [](In in) { return in[0] * 0.0 + 0.5; }));
  // Uniform fills are exact on every device; normal fills go through each device's log and cos.
  rows.push_back(like(
      "rand_like",
      [](In in) {
        Generator gen(5);
        return rand_like(in[0], &gen);
      },
      [](In in) {
        Generator gen(5);
        return rand_like(in[0], &gen);
      }));
  rows.push_back(like(
      "randn_like",
      [](In in) {
        Generator gen(5);
        return randn_like(in[0], &gen);
      },
      [](In in) {
        Generator gen(5);
        return randn_like(in[0], &gen);
      },
      kTranscendental));
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
