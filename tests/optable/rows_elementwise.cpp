// Rows of the element-wise ops: unary math and activations, binary arithmetic with broadcasting
// and promotion, comparisons and logical ops, where / masked_fill / clamp, the in-place forms and
// casts.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <tuple>

#include "optable/row_builder.h"

namespace mixgrad::testing {
namespace {

using V = const std::vector<double>&;
using Ref = ScalarRef;

double sigmoid_of(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

// A one-input row over the standard unary samples, with its scalar reference.
OpInfo unary(std::string name, Tensor (*op)(const Tensor&), double (*ref)(double), Tol tol,
             bool positive_domain = false) {
  OpInfo row;
  row.name = std::move(name);
  row.fn = [op](In in) { return op(in[0]); };
  row.samples = unary_samples(positive_domain ? positive : normal);
  row.tol = tol;
  row.reference = [ref](const std::vector<double>& v) { return ref(v[0]); };
  return row;
}

OpInfo binary(std::string name, OpFn fn, ScalarRef ref, Tol tol,
              Arg (*make_a)(Shape, DType) = normal, Arg (*make_b)(Shape, DType) = normal) {
  OpInfo row;
  row.name = std::move(name);
  row.fn = std::move(fn);
  row.samples = binary_samples(make_a, make_b);
  row.tol = tol;
  row.reference = std::move(ref);
  return row;
}

std::vector<OpInfo> unary_math_rows() {
  std::vector<OpInfo> rows = {
      unary(
          "neg", neg, [](double x) { return -x; }, kExact),
      unary(
          "abs", abs, [](double x) { return std::fabs(x); }, kExact),
      unary(
          "sign", sign, [](double x) { return double((x > 0) - (x < 0)); }, kExact),
      unary(
          "square", square, [](double x) { return x * x; }, kArith),
      unary(
          "reciprocal", reciprocal, [](double x) { return 1 / x; }, kArith, true),
      unary(
          "sqrt", sqrt, [](double x) { return std::sqrt(x); }, kArith, true),
      unary(
          "rsqrt", rsqrt, [](double x) { return 1 / std::sqrt(x); }, kTranscendental, true),
      unary(
          "exp", exp, [](double x) { return std::exp(x); }, kTranscendental),
      unary(
          "expm1", expm1, [](double x) { return std::expm1(x); }, kTranscendental),
      unary(
          "log", log, [](double x) { return std::log(x); }, kTranscendental, true),
      unary(
          "log1p", log1p, [](double x) { return std::log1p(x); }, kTranscendental, true),
      unary(
          "sin", sin, [](double x) { return std::sin(x); }, kTranscendental),
      unary(
          "cos", cos, [](double x) { return std::cos(x); }, kTranscendental),
      unary(
          "erf", erf, [](double x) { return std::erf(x); }, kTranscendental),
      unary(
          "relu", relu, [](double x) { return x > 0 ? x : 0.0; }, kExact),
      unary("sigmoid", sigmoid, sigmoid_of, kTranscendental),
      unary(
          "tanh", tanh, [](double x) { return std::tanh(x); }, kTranscendental),
      unary(
          "silu", silu, [](double x) { return x * sigmoid_of(x); }, kTranscendental),
      unary(
          "logical_not", logical_not, [](double x) { return double(x == 0); }, kExact),
  };
  // Rounding ops see x * 3, so that many elements are away from 0 and a step is crossed.
  using Unary = Tensor (*)(const Tensor&);
  using Math = double (*)(double);
  for (auto [name, op, ref] : {
           std::tuple<const char*, Unary, Math>{"floor", floor,
                                                [](double x) { return std::floor(x); }},
           std::tuple<const char*, Unary, Math>{"ceil", ceil,
                                                [](double x) { return std::ceil(x); }},
           std::tuple<const char*, Unary, Math>{"round", round,
                                                [](double x) { return std::nearbyint(x); }},
       }) {
    OpInfo row = unary(name, op, ref, kArith);
    row.fn = [op](In in) { return op(in[0] * 3.0); };
    row.reference = [ref](const std::vector<double>& v) { return ref(v[0] * 3.0); };
    rows.push_back(std::move(row));
  }
  // Activations with parameters, through the standard samples.
  const auto act = [](std::string name, OpFn fn, ScalarRef ref, Tol tol = kTranscendental) {
    OpInfo row;
    row.name = std::move(name);
    row.fn = std::move(fn);
    row.samples = unary_samples();
    row.tol = tol;
    row.reference = std::move(ref);
    return row;
  };
  rows.push_back(act(
      "gelu", [](In in) { return gelu(in[0]); },
      [](V v) { return 0.5 * v[0] * (1 + std::erf(v[0] / std::numbers::sqrt2)); }));
  rows.push_back(act(
      "gelu/tanh", [](In in) { return gelu(in[0], "tanh"); },
      [](V v) {
        const double x = v[0];
        return 0.5 * x *
               (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
      }));
  rows.push_back(act(
      "elu", [](In in) { return elu(in[0], 0.7); },
      [](V v) { return v[0] > 0 ? v[0] : 0.7 * std::expm1(v[0]); }));
  rows.push_back(act(
      "leaky_relu", [](In in) { return leaky_relu(in[0], 0.1); },
      [](V v) { return v[0] > 0 ? v[0] : 0.1 * v[0]; }, kArith));
  // x * 8 crosses softplus's linear threshold (beta * x > 10) in many elements.
  rows.push_back(act(
      "softplus", [](In in) { return softplus(in[0] * 8.0, 2.0, 10.0); },
      [](V v) {
        const double bx = 2 * 8 * v[0];
        return bx > 10 ? 8 * v[0] : std::log1p(std::exp(bx)) / 2;
      }));
  rows.push_back(act(
      "clamp", [](In in) { return clamp(in[0], -0.5, 0.7); },
      [](V v) { return std::clamp(v[0], -0.5, 0.7); }, kExact));
  rows.push_back(act(
      "clamp/min_only", [](In in) { return clamp(in[0], -0.2, std::nullopt); },
      [](V v) { return std::max(v[0], -0.2); }, kExact));
  // swiglu halves the last dim: silu(a) * b of its two halves.
  OpInfo swiglu_row;
  swiglu_row.name = "swiglu";
  swiglu_row.fn = [](In in) { return swiglu(in[0]); };
  swiglu_row.samples = {{"dense", {normal({3, 8})}},
                        {"transposed", {transposed(normal({6, 4}))}},
                        {"strided", {strided(normal({2, 3, 4}))}},
                        {"empty", {normal({0, 6})}},
                        {"large", {normal({500, 514})}}};
  swiglu_row.tol = kTranscendental;
  rows.push_back(std::move(swiglu_row));
  // Half precision: one rounding of the result (relu: none).
  for (OpInfo& row : rows) {
    if (row.name == "exp" || row.name == "sigmoid" || row.name == "gelu") {
      runs_in_half(row, kHalfTol, kBFloat16Tol);
    }
    if (row.name == "relu") runs_in_half(row, kExact, kExact);
    if (row.name == "logical_not") {
      row.differentiable = false;
      row.samples.push_back({"bool", {mask({4, 5})}});
    }
  }
  // Of rounded floats, so that some elements are exactly 0.
  OpInfo rounded = unary(
      "logical_not/rounded", logical_not, [](double x) { return double(x == 0); }, kExact);
  rounded.fn = [](In in) { return logical_not(round(in[0])); };
  rounded.reference = [](V v) { return double(std::nearbyint(v[0]) == 0); };
  rounded.differentiable = false;
  rows.push_back(std::move(rounded));
  return rows;
}

std::vector<OpInfo> binary_rows() {
  std::vector<OpInfo> rows = {
      binary(
          "add", [](In in) { return add(in[0], in[1], 2.5); },
          [](V v) { return v[0] + 2.5 * v[1]; }, kArith),
      binary(
          "sub", [](In in) { return sub(in[0], in[1], 0.5); },
          [](V v) { return v[0] - 0.5 * v[1]; }, kArith),
      binary(
          "mul", [](In in) { return mul(in[0], in[1]); }, [](V v) { return v[0] * v[1]; }, kArith),
      binary(
          "div", [](In in) { return div(in[0], in[1]); }, [](V v) { return v[0] / v[1]; }, kArith,
          normal, positive),
      binary(
          "maximum", [](In in) { return maximum(in[0], in[1]); },
          [](V v) { return std::max(v[0], v[1]); }, kExact),
      binary(
          "minimum", [](In in) { return minimum(in[0], in[1]); },
          [](V v) { return std::min(v[0], v[1]); }, kExact),
      binary(
          "pow", [](In in) { return pow(in[0], in[1]); }, [](V v) { return std::pow(v[0], v[1]); },
          kTranscendental, positive, normal),
  };
  for (OpInfo& row : rows) {
    if (row.name == "add" || row.name == "mul") {
      runs_in_half(row, kHalfTol, kBFloat16Tol);
    }
  }
  // Dtype promotion: float32 with float64, integers with floats, bool with integers.
  OpInfo promote = binary(
      "add/promotion", [](In in) { return in[0] + in[1]; }, [](V v) { return v[0] + v[1]; },
      kArith);
  promote.samples = {{"f32+f64", {normal({3, 4}, kFloat32), normal({4})}},
                     {"i32+f32", {index({3, 4}, 100, kInt32), normal({4}, kFloat32)}},
                     {"bool+i64", {mask({3, 4}), index({3, 4}, 7)}},
                     {"i64+i64", {index({3, 4}, 9), index({4}, 9)}}};
  rows.push_back(std::move(promote));
  OpInfo promote_mul = binary(
      "mul/promotion", [](In in) { return in[0] * in[1]; }, [](V v) { return v[0] * v[1]; },
      kArith);
  promote_mul.samples = {{"f32*f64", {normal({3, 4}, kFloat32), normal({3, 1})}},
                         {"i32*i64", {index({3, 4}, 1000, kInt32), index({4}, 1000)}}};
  rows.push_back(std::move(promote_mul));
  OpInfo int_div = binary(
      "div/int", [](In in) { return div(in[0], add(in[1], scalar_tensor(1, kInt64))); },
      [](V v) { return v[0] / (v[1] + 1); }, kFloat32Tol);
  int_div.samples = {{"i64/i64", {index({3, 4}, 50), index({4}, 9)}}};
  int_div.differentiable = false;
  rows.push_back(std::move(int_div));

  // Comparisons: small integers make equal pairs common; floats check promotion against ints.
  const std::vector<std::pair<const char*, Tensor (*)(const Tensor&, const Tensor&)>> compares = {
      {"eq", eq}, {"ne", ne}, {"lt", lt}, {"le", le}, {"gt", gt}, {"ge", ge}};
  const std::vector<Ref> compare_refs = {
      [](V v) { return double(v[0] == v[1]); }, [](V v) { return double(v[0] != v[1]); },
      [](V v) { return double(v[0] < v[1]); },  [](V v) { return double(v[0] <= v[1]); },
      [](V v) { return double(v[0] > v[1]); },  [](V v) { return double(v[0] >= v[1]); }};
  for (std::size_t i = 0; i < compares.size(); ++i) {
    OpInfo row;
    row.name = compares[i].first;
    const auto op = compares[i].second;
    row.fn = [op](In in) { return op(in[0], in[1]); };
    row.samples = {
        {"int", {index({4, 5}, 3), index({5}, 3)}},
        {"float", {normal({3, 1, 4}), normal({2, 1})}},
        {"mixed", {index({4, 5}, 3, kInt32), normal({4, 1})}},
        {"strided", {strided(index({4, 6}, 3)), index({6}, 3)}},
        {"empty", {normal({0, 5}), normal({5})}},
        {"0-dim", {index({}, 3), index({4}, 3)}},
    };
    row.differentiable = false;
    row.reference = compare_refs[i];
    rows.push_back(std::move(row));
  }
  using Binary = Tensor (*)(const Tensor&, const Tensor&);
  for (auto [name, op, ref] : {
           std::tuple<const char*, Binary, Ref>{"logical_and", logical_and,
                                                [](V v) { return double(v[0] && v[1]); }},
           std::tuple<const char*, Binary, Ref>{"logical_or", logical_or,
                                                [](V v) { return double(v[0] || v[1]); }},
       }) {
    OpInfo row;
    row.name = name;
    row.fn = [op](In in) { return op(in[0], in[1]); };
    row.samples = {{"bool", {mask({4, 5}), mask({5})}},
                   {"broadcast", {mask({4, 1}), mask({3, 1, 5})}},
                   {"float", {index({4, 5}, 2, kFloat64), normal({5})}},
                   {"strided", {strided(mask({4, 6})), mask({6})}},
                   {"empty", {mask({0, 5}), mask({5})}}};
    row.differentiable = false;
    row.reference = ref;
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<OpInfo> selection_rows() {
  std::vector<OpInfo> rows;
  OpInfo w;
  w.name = "where";
  w.fn = [](In in) { return where(in[0], in[1], in[2]); };
  w.samples = {
      {"same", {mask({4, 5}), normal({4, 5}), normal({4, 5})}},
      {"broadcast", {mask({3, 1, 5}), normal({4, 5}), normal({5})}},
      {"promote", {mask({4, 5}), normal({4, 5}, kFloat32), normal({4, 5})}, kArith},
      {"transposed", {transposed(mask({4, 5})), transposed(normal({4, 5})), normal({4, 5})}},
      {"empty", {mask({0, 5}), normal({0, 5}), normal({5})}},
      {"0-dim", {mask({3, 2}), normal({}), normal({3, 2})}}};
  w.reference = [](V v) { return v[0] ? v[1] : v[2]; };
  runs_in_half(w, kExact, kExact);
  rows.push_back(std::move(w));

  OpInfo mf;
  mf.name = "masked_fill";
  mf.fn = [](In in) { return masked_fill(in[0], in[1], -1.5); };
  mf.samples = {{"same", {normal({4, 5}), mask({4, 5})}},
                {"broadcast_mask", {normal({3, 4, 5}), mask({4, 1})}},
                {"transposed", {transposed(normal({4, 5})), mask({4, 5})}},
                {"empty", {normal({0, 5}), mask({5})}},
                {"0-dim", {normal({}), mask({})}}};
  mf.reference = [](V v) { return v[1] ? -1.5 : v[0]; };
  rows.push_back(mf);
  // A 0-dim tensor value that takes the summed gradient; a mask broadcasting beyond x.
  OpInfo mft = mf;
  mft.name = "masked_fill/tensor_value";
  mft.fn = [](In in) { return masked_fill(in[0], in[1], in[2]); };
  mft.samples = {{"same", {normal({4, 5}), mask({4, 5}), normal({})}},
                 {"mask_beyond_x", {normal({4, 5}), mask({3, 4, 5}), normal({})}},
                 {"strided", {strided(normal({4, 5})), mask({5}), normal({})}},
                 {"empty", {normal({0, 5}), mask({5}), normal({})}}};
  mft.reference = [](V v) { return v[1] ? v[2] : v[0]; };
  rows.push_back(std::move(mft));

  OpInfo ct;
  ct.name = "clamp/tensor_bounds";
  ct.fn = [](In in) { return clamp(in[0], in[1], in[2]); };
  ct.samples = {{"same", {normal({4, 5}), normal({4, 5}), normal({4, 5})}},
                {"broadcast", {normal({3, 4, 5}), normal({5}), positive({4, 1})}},
                {"transposed", {transposed(normal({4, 5})), normal({4, 5}), positive({})}},
                {"empty", {normal({0, 5}), normal({5}), positive({5})}}};
  ct.reference = [](V v) { return std::min(std::max(v[0], v[1]), v[2]); };
  rows.push_back(std::move(ct));
  return rows;
}

// In-place forms on a recorded copy of x (so that the gradient reaches the leaf).
std::vector<OpInfo> inplace_rows() {
  const auto row = [](std::string name, OpFn fn, std::vector<Sample> samples, Tol tol, Ref ref) {
    OpInfo r;
    r.name = std::move(name);
    r.fn = std::move(fn);
    r.samples = std::move(samples);
    r.tol = tol;
    r.reference = std::move(ref);
    return r;
  };
  const std::vector<Sample> two = {{"row", {normal({4, 5}), normal({5})}},
                                   {"transposed", {normal({4, 5}), transposed(normal({4, 5}))}},
                                   {"empty", {normal({0, 5}), normal({5})}}};
  const std::vector<Sample> two_positive = {
      {"row", {normal({4, 5}), positive({5})}},
      {"transposed", {normal({4, 5}), transposed(positive({4, 5}))}}};
  std::vector<OpInfo> rows = {
      row(
          "add_",
          [](In in) {
            Tensor y = in[0] * 1.0;
            return add_(y, in[1], 0.5);
          },
          two, kArith, [](V v) { return v[0] + 0.5 * v[1]; }),
      row(
          "sub_",
          [](In in) {
            Tensor y = in[0] * 1.0;
            return sub_(y, in[1], 2.0);
          },
          two, kArith, [](V v) { return v[0] - 2 * v[1]; }),
      row(
          "mul_",
          [](In in) {
            Tensor y = in[0] * 1.0;
            return mul_(y, in[1]);
          },
          two, kArith, [](V v) { return v[0] * v[1]; }),
      row(
          "div_",
          [](In in) {
            Tensor y = in[0] * 1.0;
            return div_(y, in[1]);
          },
          two_positive, kArith, [](V v) { return v[0] / v[1]; }),
      row(
          "clamp_",
          [](In in) {
            Tensor y = in[0] * 1.0;
            return clamp_(y, -0.3, 0.4);
          },
          {{"dense", {normal({4, 5})}}, {"empty", {normal({0, 3})}}}, kExact,
          [](V v) { return std::clamp(v[0], -0.3, 0.4); }),
      row(
          "masked_fill_",
          [](In in) {
            Tensor y = in[0] * 1.0;
            return masked_fill_(y, in[1], 2.0);
          },
          {{"same", {normal({4, 5}), mask({4, 5})}},
           {"broadcast_mask", {normal({4, 5}), mask({5})}}},
          kExact, [](V v) { return v[1] ? 2.0 : v[0]; }),
      row(
          "copy_",
          [](In in) {
            Tensor y = in[0] * 1.0;
            return copy_(y, in[1]);
          },
          {{"broadcast", {normal({4, 5}), normal({5})}},
           {"transposed", {normal({4, 5}), transposed(normal({4, 5}))}},
           {"cast", {normal({4, 5}), normal({4, 5}, kFloat32)}}},
          kExact, [](V v) { return v[1]; }),
  };
  // Writing through a strided view of a larger tensor (autograd refuses in-place writes into
  // views of leaves, so without gradients).
  OpInfo into_view = row(
      "copy_/into_view",
      [](In in) {
        Tensor y = in[0].detach().clone();
        Tensor v = y.slice(1, 0, std::nullopt, 2);
        copy_(v, in[1].detach());
        return y;
      },
      {{"dense", {normal({4, 6}), normal({4, 3})}}}, kExact, nullptr);
  into_view.differentiable = false;
  rows.push_back(std::move(into_view));
  return rows;
}

}  // namespace

std::vector<OpInfo> elementwise_rows() {
  return join_rows({unary_math_rows, binary_rows, selection_rows, inplace_rows});
}

}  // namespace mixgrad::testing
