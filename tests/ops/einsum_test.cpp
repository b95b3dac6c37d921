// einsum against the explicit permute / matmul / sum form of each expression, its gradients,
// its lowering cost (kernel calls and allocations) and its errors.
#include "ops/einsum.h"

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <utility>

#include "backends/kernels.h"
#include "common/kernel_counter.h"
#include "common/test_util.h"
#include "core/host_allocator.h"

namespace mg = mixgrad;
using mg::Shape;
using mg::Tensor;
using Inputs = std::vector<Tensor>;
using mg::testing::CallCounter;
using mg::testing::expect_close;
using mg::testing::expect_values;
using mg::testing::grad_input;

namespace {

// An expression, its operand shapes, and the same computation written out by hand.
struct Case {
  const char* equation;
  std::vector<Shape> shapes;
  std::function<Tensor(const Inputs&)> reference;
};

Tensor eye64(int64_t n) {
  return mg::eye(n, std::nullopt, mg::kFloat64);
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all{
      {"bij,bjk->bik", {{2, 3, 4}, {2, 4, 5}}, [](const Inputs& x) { return mg::bmm(x[0], x[1]); }},
      {"end,edh->enh", {{3, 4, 5}, {3, 5, 2}}, [](const Inputs& x) { return mg::bmm(x[0], x[1]); }},
      {"ij,jk->ik", {{3, 4}, {4, 5}}, [](const Inputs& x) { return mg::mm(x[0], x[1]); }},
      {"ij,jk", {{3, 4}, {4, 5}}, [](const Inputs& x) { return mg::mm(x[0], x[1]); }},
      {"i,j->ij",
       {{3}, {4}},
       [](const Inputs& x) { return x[0].unsqueeze(1) * x[1].unsqueeze(0); }},
      {"ii->", {{4, 4}}, [](const Inputs& x) { return (x[0] * eye64(4)).sum(); }},
      {"ii->i", {{4, 4}}, [](const Inputs& x) { return (x[0] * eye64(4)).sum({1}); }},
      {"...ii->...i", {{2, 3, 4, 4}}, [](const Inputs& x) { return (x[0] * eye64(4)).sum({-1}); }},
      {"ij->ji", {{3, 4}}, [](const Inputs& x) { return x[0].t(); }},
      {"ji", {{3, 4}}, [](const Inputs& x) { return x[0].t(); }},  // implicit: sorted letters
      {"ij->i", {{3, 4}}, [](const Inputs& x) { return x[0].sum({1}); }},
      {"ij->", {{3, 4}}, [](const Inputs& x) { return x[0].sum(); }},
      {"...ij->ij", {{2, 3, 4}}, [](const Inputs& x) { return x[0].sum({0}); }},
      {"i...j->j...i",
       {{2, 3, 4, 5}},
       [](const Inputs& x) {
         return x[0].permute({3, 1, 2, 0});
       }},
      {"...ij,...jk->...ik",
       {{2, 1, 3, 4}, {5, 4, 2}},
       [](const Inputs& x) { return mg::matmul(x[0], x[1]); }},
      {"...ij,jk", {{2, 3, 4}, {4, 5}}, [](const Inputs& x) { return mg::matmul(x[0], x[1]); }},
      {"ij,jk,kl->il",
       {{2, 3}, {3, 4}, {4, 5}},
       [](const Inputs& x) { return mg::mm(mg::mm(x[0], x[1]), x[2]); }},
      {"bn,anm,bm->ba",
       {{2, 3}, {4, 3, 5}, {2, 5}},
       [](const Inputs& x) {
         // [A, B, M] = x0 @ w[a] for every a, then the dot with x2 over m.
         return (mg::matmul(x[0], x[1]) * x[2].unsqueeze(0)).sum({2}).t();
       }},
      {"i,i->", {{5}, {5}}, [](const Inputs& x) { return mg::matmul(x[0], x[1]); }},
      {"ij,ij->ij", {{3, 4}, {3, 4}}, [](const Inputs& x) { return x[0] * x[1]; }},
      {"ij,k->i", {{3, 4}, {5}}, [](const Inputs& x) { return x[0].sum({1}) * x[1].sum(); }},
      {"Ab,bC->CA", {{3, 4}, {4, 2}}, [](const Inputs& x) { return mg::mm(x[0], x[1]).t(); }},
      {"nbd,bdh->bnh",
       {{4, 2, 3}, {2, 3, 5}},
       [](const Inputs& x) {
         return mg::bmm(x[0].permute({1, 0, 2}), x[1]);
       }},
      {"bji,bjk->bik",
       {{2, 4, 3}, {2, 4, 5}},
       [](const Inputs& x) { return mg::bmm(x[0].transpose(1, 2), x[1]); }},
      {"iij,jk->ik",
       {{3, 3, 4}, {4, 2}},
       [](const Inputs& x) { return mg::mm((x[0] * eye64(3).unsqueeze(-1)).sum({1}), x[1]); }},
      {"ijk,ikj->ij",
       {{2, 3, 4}, {2, 4, 3}},
       [](const Inputs& x) { return (x[0] * x[1].transpose(1, 2)).sum({2}); }},
      {"ij,jk->ik",  // j has size 1 in the left operand: it broadcasts
       {{3, 1}, {4, 5}},
       [](const Inputs& x) { return x[0] * x[1].sum({0}, true); }},
      {"ij,ij->ij", {{3, 1}, {3, 4}}, [](const Inputs& x) { return x[0] * x[1]; }},
      {",ij->ji", {{}, {2, 3}}, [](const Inputs& x) { return (x[0] * x[1]).t(); }},
      {"a b , b c -> a c", {{2, 3}, {3, 2}}, [](const Inputs& x) { return mg::mm(x[0], x[1]); }},
  };
  return all;
}

Inputs inputs_for(const Case& c) {
  Inputs in;
  for (size_t i = 0; i < c.shapes.size(); ++i) in.push_back(grad_input(c.shapes[i], 10 + i));
  return in;
}

// einsum by definition, for equations with an explicit output and no '...': loops over every
// assignment of values to the letters and adds the product of the indexed elements.
std::vector<double> brute_force(const std::string& equation, const Inputs& in) {
  const size_t arrow = equation.find("->");
  std::vector<std::string> terms;
  for (size_t start = 0;;) {
    const size_t comma = equation.find(',', start);
    terms.push_back(equation.substr(start, std::min(comma, arrow) - start));
    if (comma == std::string::npos || comma > arrow) break;
    start = comma + 1;
  }
  const std::string out = equation.substr(arrow + 2);
  std::string letters;
  std::map<char, int64_t> size;
  for (size_t i = 0; i < terms.size(); ++i)
    for (size_t d = 0; d < terms[i].size(); ++d) {
      if (!size.count(terms[i][d])) letters += terms[i][d];
      size[terms[i][d]] = in[i].size(static_cast<int64_t>(d));
    }
  std::vector<std::vector<double>> values;
  for (const Tensor& t : in) values.push_back(t.to_vector<double>());
  // Row-major flat position of the element that `term` names under `value`.
  const auto flat = [&](const std::string& term, const std::map<char, int64_t>& value) {
    int64_t pos = 0;
    for (char c : term) pos = pos * size[c] + value.at(c);
    return pos;
  };
  int64_t out_numel = 1, combos = 1;
  for (char c : out) out_numel *= size[c];
  for (char c : letters) combos *= size[c];
  std::vector<double> result(out_numel, 0.0);
  for (int64_t k = 0; k < combos; ++k) {
    std::map<char, int64_t> value;
    int64_t rest = k;
    for (char c : letters) {
      value[c] = rest % size[c];
      rest /= size[c];
    }
    double product = 1;
    for (size_t i = 0; i < terms.size(); ++i) product *= values[i][flat(terms[i], value)];
    result[flat(out, value)] += product;
  }
  return result;
}

// Bytes the CPU allocator hands out for a tensor of `numel` doubles.
std::size_t block_bytes(int64_t numel) {
  return mg::CachingAllocator::size_class(static_cast<std::size_t>(numel) * sizeof(double));
}

}  // namespace

// ---- values and gradients ----

TEST(Einsum, MatchesTheWrittenOutForm) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.equation);
    const Inputs in = inputs_for(c);
    const Tensor got = mg::einsum(c.equation, std::span<const Tensor>(in));
    EXPECT_EQ(got.dtype(), mg::kFloat64);
    expect_close(got, c.reference(in), 1e-12, 1e-12);
  }
}

TEST(Einsum, GradientsMatchFiniteDifferences) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.equation);
    const std::string equation = c.equation;
    EXPECT_GRADCHECK([&equation](const Inputs& in) { return mg::einsum(equation, in); },
                     inputs_for(c));
  }
}

TEST(Einsum, GradientsEqualThoseOfTheWrittenOutForm) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.equation);
    const Inputs a = inputs_for(c), b = inputs_for(c);
    const Tensor seed = grad_input(c.reference(a).shape(), 99).detach();
    (mg::einsum(c.equation, std::span<const Tensor>(a)) * seed).sum().backward();
    (c.reference(b) * seed).sum().backward();
    for (size_t i = 0; i < a.size(); ++i) expect_close(a[i].grad(), b[i].grad(), 1e-12, 1e-12);
  }
}

TEST(Einsum, MixedExpressionsMatchTheDefinition) {
  const std::vector<std::pair<std::string, std::vector<Shape>>> expressions{
      {"abc,cad,db->ba", {{2, 3, 4}, {4, 2, 3}, {3, 3}}},
      {"aab,bc,ca->b", {{3, 3, 2}, {2, 4}, {4, 3}}},
      {"ijk,kji->", {{2, 3, 4}, {4, 3, 2}}},
      {"aBc,cBa->Bac", {{2, 3, 2}, {2, 3, 2}}},
      {"ij,jk,kl,lm->mi", {{2, 3}, {3, 2}, {2, 4}, {4, 3}}},
      {"bij,bjk,b->kbi", {{3, 2, 4}, {3, 4, 2}, {3}}},
      {"iji,j->ij", {{3, 2, 3}, {2}}},
  };
  for (const auto& [equation, shapes] : expressions) {
    SCOPED_TRACE(equation);
    Inputs in;
    for (size_t i = 0; i < shapes.size(); ++i) in.push_back(grad_input(shapes[i], 20 + i));
    const Tensor got = mg::einsum(equation, in);
    const std::vector<double> expected = brute_force(equation, in);
    const std::vector<double> values = got.to_vector<double>();
    ASSERT_EQ(values.size(), expected.size());
    for (size_t i = 0; i < values.size(); ++i) EXPECT_NEAR(values[i], expected[i], 1e-12);
    // Captured by name: clang 14 cannot capture a structured binding (P1091 came in clang 16).
    EXPECT_GRADCHECK([&eq = equation](const Inputs& x) { return mg::einsum(eq, x); }, in);
  }
}

TEST(Einsum, HandComputedValues) {
  const Tensor m = mg::tensor({{1.0, 2.0}, {3.0, 4.0}});
  expect_values(mg::einsum("ii", m), {}, {5});
  expect_values(mg::einsum("ii->i", m), {2}, {1, 4});
  expect_values(mg::einsum("ij->j", m), {2}, {4, 6});
  expect_values(mg::einsum("ij,jk->ik", m, m), {2, 2}, {7, 10, 15, 22});
  expect_values(mg::einsum("ij,jk->ki", {m, m}), {2, 2}, {7, 15, 10, 22});
  const Tensor v = mg::tensor({1.0, -1.0});
  expect_values(mg::einsum("i,j", v, mg::tensor({2.0, 3.0, 4.0})), {2, 3}, {2, 3, 4, -2, -3, -4});
  expect_values(mg::einsum("i,ij,j->", v, m, v), {}, {1 - 2 - 3 + 4});
  // Integer operands keep their dtype through the sums.
  const Tensor k = mg::tensor({{1, 2, 3}, {4, 5, 6}});
  const Tensor summed = mg::einsum("ij,k->i", k, mg::tensor({1, 1}));
  EXPECT_EQ(summed.dtype(), mg::kInt32);
  expect_values(summed, {2}, {12, 30});
  const Tensor f = mg::tensor({1.f, 2.f});
  EXPECT_EQ(mg::einsum("i,i", f, f).dtype(), mg::kFloat32);
}

TEST(Einsum, EmptyDims) {
  expect_values(mg::einsum("ij,jk->ik", mg::ones({2, 0}), mg::ones({0, 3})), {2, 3},
                std::vector<double>(6, 0.0));
  expect_values(mg::einsum("ij,jk->ik", mg::ones({0, 2}), mg::ones({2, 3})), {0, 3}, {});
  expect_values(mg::einsum("ij->j", mg::ones({0, 2})), {2}, {0, 0});
  expect_values(mg::einsum("ii->i", mg::ones({0, 0})), {0}, {});
}

TEST(Einsum, RepeatedLetterAcrossThreeDimsAndAWholeGradient) {
  // "iii->i" takes the diagonal twice; its gradient lands only on the diagonal.
  auto x = mg::arange(27, mg::kFloat64).view({3, 3, 3}).requires_grad_();
  expect_values(mg::einsum("iii->i", x), {3}, {0, 13, 26});
  mg::einsum("iii", x).backward();
  std::vector<double> expected(27, 0.0);
  expected[0] = expected[13] = expected[26] = 1;
  expect_values(x.grad(), {3, 3, 3}, expected);
}

// ---- lowering cost ----

TEST(Einsum, BatchedExpertProductIsOneGemmWithoutCopies) {
  mg::Generator gen(3);
  const Tensor x = mg::randn({4, 6, 5}, mg::kFloat64, &gen);
  const Tensor w = mg::randn({4, 5, 3}, mg::kFloat64, &gen);
  const Tensor expected = mg::bmm(x, w);
  mg::reset_peak_memory_stats();
  const std::size_t before = mg::memory_stats().allocated;
  Tensor y;
  int gemms = 0, copies = 0, binaries = 0, reductions = 0;
  {
    CallCounter<mg::kernels::gemm> gemm;
    CallCounter<mg::kernels::copy> copy;
    CallCounter<mg::kernels::binary> binary;
    CallCounter<mg::kernels::reduce> reduce;
    y = mg::einsum("end,edh->enh", x, w);
    gemms = gemm.calls();
    copies = copy.calls();
    binaries = binary.calls();
    reductions = reduce.calls();
  }
  EXPECT_EQ(gemms, 1);
  EXPECT_EQ(copies, 0);
  EXPECT_EQ(binaries, 0);
  EXPECT_EQ(reductions, 0);
  // The only allocation is the result.
  EXPECT_EQ(mg::memory_stats().peak_allocated - before, block_bytes(4 * 6 * 3));
  EXPECT_TRUE(y.is_contiguous());
  expect_values(y, {4, 6, 3}, expected.to_vector<double>());
}

TEST(Einsum, TransposedOperandIsReadInPlace) {
  mg::Generator gen(4);
  const Tensor a = mg::randn({2, 4, 3}, mg::kFloat64, &gen);
  const Tensor b = mg::randn({2, 4, 5}, mg::kFloat64, &gen);
  CallCounter<mg::kernels::gemm> gemm;
  CallCounter<mg::kernels::copy> copy;
  const Tensor y = mg::einsum("bji,bjk->bik", a, b);
  EXPECT_EQ(gemm.calls(), 1);
  EXPECT_EQ(copy.calls(), 0);
  expect_close(y, mg::bmm(a.transpose(1, 2), b), 1e-12, 1e-12);
}

TEST(Einsum, CopiesOnlyTheSmallerOperandWhenLayoutsDisagree) {
  // The summed letters j, k lie in opposite orders in the two operands: one must be copied.
  mg::Generator gen(5);
  const Tensor a = mg::randn({8, 5, 4}, mg::kFloat64, &gen);  // i k j
  const Tensor b = mg::randn({4, 5}, mg::kFloat64, &gen);     // j k
  mg::reset_peak_memory_stats();
  const std::size_t before = mg::memory_stats().allocated;
  Tensor y;
  {
    CallCounter<mg::kernels::gemm> gemm;
    CallCounter<mg::kernels::copy> copy;
    y = mg::einsum("ikj,jk->i", a, b);
    EXPECT_EQ(gemm.calls(), 1);
    EXPECT_EQ(copy.calls(), 1);
  }
  EXPECT_EQ(mg::memory_stats().peak_allocated - before, block_bytes(4 * 5) + block_bytes(8));
  expect_close(y, (a * b.t()).sum({1, 2}), 1e-12, 1e-12);
}

TEST(Einsum, ElementwiseProductsNeedNoGemm) {
  const Tensor a = mg::ones({3, 4}, mg::kFloat64), b = mg::ones({4}, mg::kFloat64);
  CallCounter<mg::kernels::gemm> gemm;
  CallCounter<mg::kernels::binary> binary;
  expect_values(mg::einsum("ij,j->ij", a, b), {3, 4}, std::vector<double>(12, 1.0));
  EXPECT_EQ(gemm.calls(), 0);
  EXPECT_EQ(binary.calls(), 1);
}

TEST(Einsum, LoneOperandIsAViewWhenNothingIsSummed) {
  const Tensor x = mg::arange(12, mg::kFloat64).view({3, 4});
  const Tensor y = mg::einsum("ij->ji", x);
  EXPECT_EQ(y.storage(), x.storage());
  const Tensor m = mg::arange(9, mg::kFloat64).view({3, 3});
  const Tensor d = mg::einsum("ii->i", m);
  EXPECT_EQ(d.storage(), m.storage());
  expect_values(d, {3}, {0, 4, 8});
}

// ---- errors ----

TEST(Einsum, ErrorsNameEquationAndShapes) {
  const Tensor a = mg::zeros({2, 3}), b = mg::zeros({4, 5});
  EXPECT_MG_ERROR(mg::einsum("ij,jk->ik", a, b),
                  "einsum: letter 'j' has size 3 in operand 0 but size 4 in operand 1 (equation "
                  "\"ij,jk->ik\", operand shapes [2, 3], [4, 5])");
}

TEST(Einsum, Errors) {
  const Tensor m = mg::zeros({2, 3}), sq = mg::zeros({3, 3}), v = mg::zeros({3});
  EXPECT_MG_ERROR(mg::einsum("ij,jk->ik", m), "2 operand subscripts but 1 operands");
  EXPECT_MG_ERROR(mg::einsum("ij", m, m), "1 operand subscripts but 2 operands");
  EXPECT_MG_ERROR(mg::einsum("->", std::span<const Tensor>()), "1 operand subscripts but 0");
  EXPECT_MG_ERROR(mg::einsum("ijk", m), "operand 0 has 3 letters but the operand has 2 dims");
  EXPECT_MG_ERROR(mg::einsum("i", m), "operand 0 has 1 letters but the operand has 2 dims");
  EXPECT_MG_ERROR(mg::einsum("i,...ijk", v, m), "operand 1 has 3 letters and '...' but");
  EXPECT_MG_ERROR(mg::einsum("i1", m), "invalid character '1' at position 1");
  EXPECT_MG_ERROR(mg::einsum("ij->i_", m), "invalid character '_' at position 5");
  EXPECT_MG_ERROR(mg::einsum("i.j", m), "'.' at position 1 in the subscript of operand 0 is not");
  EXPECT_MG_ERROR(mg::einsum("i..", v), "is not part of '...'");
  EXPECT_MG_ERROR(mg::einsum("...i...", m), "the subscript of operand 0 has more than one '...'");
  EXPECT_MG_ERROR(mg::einsum("...ij->......", m), "the output subscript has more than one");
  EXPECT_MG_ERROR(mg::einsum("ij->k", m), "output letter 'k' does not appear in any input");
  EXPECT_MG_ERROR(mg::einsum("ij->ii", m), "output letter 'i' appears more than once");
  EXPECT_MG_ERROR(mg::einsum("ij->i,j", m), "the output subscript cannot contain ','");
  for (const char* bad : {"ij-i", "ij>i", "ij->i->", "ij-->i", "i>j->i"})
    EXPECT_MG_ERROR(mg::einsum(bad, m), "'->' is malformed");
  EXPECT_MG_ERROR(mg::einsum("ii", m), "letter 'i' is repeated in operand 0 with different sizes");
  EXPECT_MG_ERROR(mg::einsum("ij,ij", m, sq),
                  "letter 'i' has size 2 in operand 0 but size 3 in operand 1");
  EXPECT_MG_ERROR(mg::einsum("...i,...i", mg::zeros({2, 3}), mg::zeros({4, 3})),
                  "'...' dim 0 has size 2 in operand 0 but size 4 in operand 1");
  EXPECT_MG_ERROR(mg::einsum("i,i", v, mg::zeros({3}, mg::kFloat64)),
                  "operands must share a dtype and device, but operand 0 is float32[3]");
  EXPECT_MG_ERROR(mg::einsum("i,i", v, Tensor()), "operand 1 is undefined");
  const Tensor flags = mg::zeros({3}, mg::kBool);
  EXPECT_MG_ERROR(mg::einsum("i,i", flags, flags), "bool operands are not supported");
}

// ---- diagonal (the view einsum takes for repeated letters) ----

TEST(Diagonal, ValuesOffsetsAndDims) {
  const Tensor x = mg::arange(12, mg::kFloat64).view({3, 4});
  expect_values(mg::diagonal(x), {3}, {0, 5, 10});
  expect_values(mg::diagonal(x, 1), {3}, {1, 6, 11});
  expect_values(mg::diagonal(x, 2), {2}, {2, 7});
  expect_values(mg::diagonal(x, -1), {2}, {4, 9});
  expect_values(mg::diagonal(x, 4), {0}, {});
  expect_values(mg::diagonal(x, -3), {0}, {});
  expect_values(mg::diagonal(x, 0, 1, 0), {3}, {0, 5, 10});
  // The diagonal dim goes last; the other dims keep their order.
  const Tensor y = mg::arange(24, mg::kFloat64).view({2, 3, 4});
  expect_values(mg::diagonal(y, 0, 0, 2), {3, 2}, {0, 13, 4, 17, 8, 21});
  expect_values(mg::diagonal(y, 1, -1, -2), {2, 2}, {4, 9, 16, 21});
  const Tensor d = mg::diagonal(y, 0, 1, 2);
  EXPECT_EQ(d.storage(), y.storage());
  expect_values(d, {2, 3}, {0, 5, 10, 12, 17, 22});
}

TEST(Diagonal, GradientsAccumulateOnTheDiagonal) {
  for (int64_t offset : {0, 1, -2}) {
    SCOPED_TRACE(offset);
    EXPECT_GRADCHECK(
        [offset](const Inputs& in) {
          return mg::diagonal(in[0], offset, 2, 0) * mg::diagonal(in[0], offset, 2, 0);
        },
        Inputs{grad_input({4, 2, 3})});
  }
  auto x = mg::zeros({2, 3}, mg::kFloat64).requires_grad_();
  (mg::diagonal(x).sum() + mg::diagonal(x, 1).sum() * 10).backward();
  expect_values(x.grad(), {2, 3}, {1, 10, 0, 0, 1, 10});
}

TEST(Diagonal, Errors) {
  EXPECT_MG_ERROR(mg::diagonal(mg::zeros({3})), "diagonal: expects a tensor with >= 2 dims");
  EXPECT_MG_ERROR(mg::diagonal(mg::zeros({3, 3}), 0, 1, -1), "dim1 and dim2 are the same dim 1");
  EXPECT_MG_ERROR(mg::diagonal(mg::zeros({3, 3}), 0, 0, 2), "diagonal");
}
