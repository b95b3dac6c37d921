// Elementwise ops on CUDA against the CPU: unary math and activations, binary ops with
// broadcasting and dtype promotion, comparisons, where/masked_fill, in-place forms, casts.
#include "cuda/cuda_test_util.h"

namespace mixgrad::cuda_testing {
namespace {

using UnaryOp = std::function<Tensor(const Tensor&)>;
using BinaryOp = std::function<Tensor(const Tensor&, const Tensor&)>;

OpCase unary(std::string name, UnaryOp op, Tol tol, Arg arg = normal({3, 5})) {
  return {std::move(name),
          {std::move(arg)},
          [op](const std::vector<Tensor>& in) { return op(in[0]); },
          tol};
}

OpCase binary(std::string name, BinaryOp op, Tol tol, Arg a, Arg b) {
  return {std::move(name),
          {std::move(a), std::move(b)},
          [op](const std::vector<Tensor>& in) { return op(in[0], in[1]); },
          tol};
}

// The math ops, each over a dense, a transposed, a strided and an empty input.
std::vector<OpCase> unary_cases() {
  struct Entry {
    const char* name;
    UnaryOp op;
    Tol tol;
    bool positive_domain;
  };
  const std::vector<Entry> entries = {
      {"neg", [](const Tensor& x) { return neg(x); }, kExact, false},
      {"abs", [](const Tensor& x) { return abs(x); }, kExact, false},
      {"sign", [](const Tensor& x) { return sign(x); }, kExact, false},
      {"floor", [](const Tensor& x) { return floor(x * 3.0); }, kArith, false},
      {"ceil", [](const Tensor& x) { return ceil(x * 3.0); }, kArith, false},
      {"round", [](const Tensor& x) { return round(x * 3.0); }, kArith, false},
      {"relu", [](const Tensor& x) { return relu(x); }, kExact, false},
      {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.7); }, kExact, false},
      {"clamp_min", [](const Tensor& x) { return clamp(x, -0.2, std::nullopt); }, kExact, false},
      {"square", [](const Tensor& x) { return square(x); }, kArith, false},
      {"reciprocal", [](const Tensor& x) { return reciprocal(x); }, kArith, true},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, kArith, true},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, kTranscendental, true},
      {"exp", [](const Tensor& x) { return exp(x); }, kTranscendental, false},
      {"expm1", [](const Tensor& x) { return expm1(x); }, kTranscendental, false},
      {"log", [](const Tensor& x) { return log(x); }, kTranscendental, true},
      {"log1p", [](const Tensor& x) { return log1p(x); }, kTranscendental, true},
      {"sin", [](const Tensor& x) { return sin(x); }, kTranscendental, false},
      {"cos", [](const Tensor& x) { return cos(x); }, kTranscendental, false},
      {"erf", [](const Tensor& x) { return erf(x); }, kTranscendental, false},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, kTranscendental, false},
      {"tanh", [](const Tensor& x) { return tanh(x); }, kTranscendental, false},
      {"gelu", [](const Tensor& x) { return gelu(x); }, kTranscendental, false},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); }, kTranscendental, false},
      {"elu", [](const Tensor& x) { return elu(x, 0.7); }, kTranscendental, false},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.1); }, kArith, false},
      {"softplus", [](const Tensor& x) { return softplus(x * 8.0, 2.0, 10.0); }, kTranscendental,
       false},
      {"silu", [](const Tensor& x) { return silu(x); }, kTranscendental, false},
  };
  std::vector<OpCase> cases;
  for (const Entry& e : entries) {
    auto arg = [&](Shape s) {
      return e.positive_domain ? positive(std::move(s)) : normal(std::move(s));
    };
    cases.push_back(unary(e.name, e.op, e.tol, arg({3, 5})));
    cases.push_back(
        unary(std::string(e.name) + "/transposed", e.op, e.tol, transposed(arg({4, 6}))));
    cases.push_back(unary(std::string(e.name) + "/strided", e.op, e.tol, strided(arg({2, 3, 4}))));
    cases.push_back(unary(std::string(e.name) + "/empty", e.op, e.tol, arg({0, 4})));
    cases.push_back(unary(std::string(e.name) + "/large", e.op, e.tol, arg({1000, 257})));
  }
  return cases;
}

TEST(CudaElementwise, UnaryOpsMatchCpu) {
  MG_REQUIRE_CUDA();
  run_cases(unary_cases());
}

TEST(CudaElementwise, BinaryOpsWithBroadcastingMatchCpu) {
  MG_REQUIRE_CUDA();
  const std::vector<std::pair<const char*, BinaryOp>> ops = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b, 2.5); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b, 0.5); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return a * b; }},
      {"div", [](const Tensor& a, const Tensor& b) { return a / (abs(b) + 0.5); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }},
  };
  std::vector<OpCase> cases;
  for (const auto& [name, op] : ops) {
    const std::string n = name;
    cases.push_back(binary(n + "/same", op, kArith, normal({4, 5}), normal({4, 5})));
    cases.push_back(binary(n + "/broadcast", op, kArith, normal({3, 1, 5}), normal({4, 1})));
    cases.push_back(binary(n + "/row", op, kArith, normal({6, 7}), normal({7})));
    cases.push_back(
        binary(n + "/transposed", op, kArith, transposed(normal({5, 4})), normal({5, 4})));
    cases.push_back(binary(n + "/strided", op, kArith, strided(normal({3, 8})), normal({8})));
    cases.push_back(binary(n + "/empty", op, kArith, normal({0, 5}), normal({1, 5})));
    cases.push_back(binary(n + "/large", op, kArith, normal({513, 1031}), normal({1031})));
  }
  cases.push_back(binary(
      "pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }, kTranscendental,
      positive({4, 5}), normal({5})));
  cases.push_back(binary(
      "scalar_rhs", [](const Tensor& a, const Tensor&) { return a * 2.5 + 1.0; }, kArith,
      normal({4, 5}), constant(normal({1}))));
  run_cases(cases);
}

TEST(CudaElementwise, DtypePromotionMatchesCpu) {
  MG_REQUIRE_CUDA();
  const BinaryOp add_op = [](const Tensor& a, const Tensor& b) { return a + b; };
  const BinaryOp mul_op = [](const Tensor& a, const Tensor& b) { return a * b; };
  run_cases({
      binary("f32+f64", add_op, kArith, normal({3, 4}, kFloat32), normal({4})),
      binary("f32*f64", mul_op, kArith, normal({3, 4}, kFloat32), normal({3, 1})),
      binary("i32+f32", add_op, kArith, index({3, 4}, 100, kInt32), normal({4}, kFloat32)),
      binary("i32*i64", mul_op, kExact, index({3, 4}, 1000, kInt32), index({4}, 1000)),
      binary("bool+i64", add_op, kExact, mask({3, 4}), index({3, 4}, 7)),
      binary(
          "i64/i64", [](const Tensor& a, const Tensor& b) { return a / (b + 1); }, kFloat32Tol,
          index({3, 4}, 50), index({4}, 9)),
  });
}

TEST(CudaElementwise, ComparisonsAndLogicalOpsMatchCpu) {
  MG_REQUIRE_CUDA();
  const std::vector<std::pair<const char*, BinaryOp>> ops = {
      {"eq", [](const Tensor& a, const Tensor& b) { return eq(a, b); }},
      {"ne", [](const Tensor& a, const Tensor& b) { return ne(a, b); }},
      {"lt", [](const Tensor& a, const Tensor& b) { return lt(a, b); }},
      {"le", [](const Tensor& a, const Tensor& b) { return le(a, b); }},
      {"gt", [](const Tensor& a, const Tensor& b) { return gt(a, b); }},
      {"ge", [](const Tensor& a, const Tensor& b) { return ge(a, b); }},
  };
  std::vector<OpCase> cases;
  for (const auto& [name, op] : ops) {
    const std::string n = name;
    // Small integers make equal pairs common; the float pair checks promotion against int.
    cases.push_back(binary(n + "/int", op, kExact, index({4, 5}, 3), index({5}, 3)));
    cases.push_back(binary(n + "/float", op, kExact, normal({3, 1, 4}), normal({2, 1})));
    cases.push_back(binary(n + "/mixed", op, kExact, index({4, 5}, 3, kInt32), normal({4, 1})));
    cases.push_back(binary(n + "/strided", op, kExact, strided(index({4, 6}, 3)), index({6}, 3)));
  }
  cases.push_back(binary(
      "logical_and", [](const Tensor& a, const Tensor& b) { return logical_and(a, b); }, kExact,
      mask({4, 5}), mask({5})));
  cases.push_back(binary(
      "logical_or", [](const Tensor& a, const Tensor& b) { return logical_or(a, b); }, kExact,
      mask({4, 5}), mask({4, 1})));
  cases.push_back(unary(
      "logical_not", [](const Tensor& x) { return logical_not(x); }, kExact, mask({4, 5})));
  cases.push_back(unary(
      "logical_not/float", [](const Tensor& x) { return logical_not(round(x)); }, kExact,
      normal({4, 5})));
  run_cases(cases);
}

TEST(CudaElementwise, WhereAndMaskedFillMatchCpu) {
  MG_REQUIRE_CUDA();
  run_cases({
      {"where",
       {mask({4, 5}), normal({4, 5}), normal({4, 5})},
       [](const std::vector<Tensor>& in) { return where(in[0], in[1], in[2]); }},
      {"where/broadcast",
       {mask({3, 1, 5}), normal({4, 5}), normal({5})},
       [](const std::vector<Tensor>& in) { return where(in[0], in[1], in[2]); }},
      {"where/promote",
       {mask({4, 5}), normal({4, 5}, kFloat32), normal({4, 5})},
       [](const std::vector<Tensor>& in) { return where(in[0], in[1], in[2]); },
       kArith},
      {"where/transposed",
       {transposed(mask({4, 5})), transposed(normal({4, 5})), normal({4, 5})},
       [](const std::vector<Tensor>& in) { return where(in[0], in[1], in[2]); }},
      {"masked_fill",
       {normal({4, 5}), mask({4, 5})},
       [](const std::vector<Tensor>& in) { return masked_fill(in[0], in[1], -1.5); }},
      {"masked_fill/broadcast",
       {normal({3, 4, 5}), mask({4, 1})},
       [](const std::vector<Tensor>& in) { return masked_fill(in[0], in[1], 7.0); }},
  });
}

TEST(CudaElementwise, InPlaceOpsMatchCpu) {
  MG_REQUIRE_CUDA();
  run_cases({
      {"add_",
       {normal({4, 5}), normal({5})},
       [](const std::vector<Tensor>& in) {
         Tensor y = in[0].clone();
         y.add_(in[1], 0.5);
         return y;
       },
       kArith},
      {"mul_/transposed",
       {normal({4, 5}), transposed(normal({4, 5}))},
       [](const std::vector<Tensor>& in) {
         Tensor y = in[0] * 1.0;
         y.mul_(in[1]);
         return y;
       },
       kArith},
      {"clamp_",
       {normal({4, 5})},
       [](const std::vector<Tensor>& in) {
         Tensor y = in[0].clone();
         y.clamp_(-0.3, 0.4);
         return y;
       }},
      {"masked_fill_",
       {normal({4, 5}), mask({4, 5})},
       [](const std::vector<Tensor>& in) {
         Tensor y = in[0].clone();
         y.masked_fill_(in[1], 2.0);
         return y;
       }},
      // Writes through a strided view of a larger tensor.
      {"copy_/into_view",
       {normal({4, 6}), normal({4, 3})},
       [](const std::vector<Tensor>& in) {
         Tensor y = in[0].clone();
         Tensor v = y.slice(1, 0, std::nullopt, 2);
         v.copy_(in[1]);
         return y;
       },
       kExact,
       /*backward=*/false},  // autograd refuses in-place writes into views
  });
}

TEST(CudaElementwise, CastsCloneAndContiguousMatchCpu) {
  MG_REQUIRE_CUDA();
  const auto cast = [](DType to) { return [to](const Tensor& x) { return x.to(to); }; };
  run_cases({
      unary("f64->f32", cast(kFloat32), kExact, normal({5, 7})),
      unary("f32->f64", cast(kFloat64), kExact, normal({5, 7}, kFloat32)),
      unary(
          "f64->i32", [](const Tensor& x) { return (x * 100.0).to(kInt32); }, kExact,
          constant(normal({5, 7}))),
      unary(
          "f64->i64", [](const Tensor& x) { return (x * 1e6).to(kInt64); }, kExact,
          constant(normal({5, 7}))),
      unary("i64->f64", cast(kFloat64), kExact, index({5, 7}, 1 << 30)),
      unary("i64->i32", cast(kInt32), kExact, index({5, 7}, 1 << 30)),
      unary(
          "f64->bool", [](const Tensor& x) { return round(x).to(kBool); }, kExact,
          constant(normal({5, 7}))),
      unary("bool->f32", cast(kFloat32), kExact, mask({5, 7})),
      unary("f64->f32/transposed", cast(kFloat32), kExact, transposed(normal({7, 5}))),
      unary(
          "clone/strided", [](const Tensor& x) { return x.clone(); }, kExact,
          strided(normal({3, 5}))),
      unary(
          "contiguous/transposed",
          [](const Tensor& x) {
            Tensor c = x.contiguous();
            EXPECT_TRUE(c.is_contiguous());
            return c;
          },
          kExact, transposed(normal({6, 9}))),
      unary(
          "contiguous/permuted",
          [](const Tensor& x) {
            return x.permute({2, 0, 1}).contiguous();
          },
          kExact, normal({3, 4, 5})),
      unary(
          "contiguous/expanded",
          [](const Tensor& x) {
            return x.expand({4, 3, 5}).contiguous();
          },
          kExact, normal({3, 1})),
      unary(
          "contiguous/empty", [](const Tensor& x) { return x.t().contiguous(); }, kExact,
          normal({0, 3})),
  });
}

}  // namespace
}  // namespace mixgrad::cuda_testing
