// The checks every op gets from its row in the op table (tests/optable/op_info.h): gradients
// against finite differences, float32 against float64, strided inputs against contiguous copies,
// element-wise ops against their scalar references, other ops against their composite
// references; and that every public op has a row.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "common/test_util.h"
#include "optable/op_info.h"

namespace mixgrad::testing {
namespace {

// Finite differences cost two forward passes per input element: larger samples are left to the
// other checks (every differentiable row has a smaller one).
constexpr int64_t kGradcheckElements = 1000;
// float32 against float64 on samples up to this many input elements (larger sums lose more to
// float32 rounding than a fixed bound covers).
constexpr int64_t kFloat32Elements = 50000;
constexpr Tol kFloat32Bound{1e-4, 1e-3};

int64_t input_elements(const Sample& s) {
  int64_t n = 0;
  for (const Arg& a : s.args) n += numel_of(a.shape);
  return n;
}

std::string where_(const OpInfo& row, const Sample& s) {
  return row.name + " on sample \"" + s.name + "\"";
}

// Runs one row's check on one sample; an exception fails that case alone, named.
template <class F>
void guarded(const OpInfo& row, const Sample& s, F&& check) {
  try {
    check();
  } catch (const std::exception& e) {
    ADD_FAILURE() << where_(row, s) << " threw: " << e.what();
  }
}

// |a - e| <= atol + rtol |e| elementwise, NaN matching NaN, same shape; counts the failures.
void expect_within(const Tensor& actual, const Tensor& expected, Tol tol, const std::string& what) {
  ASSERT_TRUE(actual.defined() && expected.defined()) << what;
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  int64_t bad = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if ((std::isnan(a[i]) && std::isnan(e[i])) || a[i] == e[i]) continue;
    if (std::isfinite(e[i]) && std::fabs(a[i] - e[i]) <= tol.atol + tol.rtol * std::fabs(e[i]))
      continue;
    if (++bad <= 3)
      ADD_FAILURE() << what << ": element " << i << " is " << a[i] << ", expected " << e[i];
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << a.size() << " elements differ";
}

TEST(OpTable, GradientsMatchFiniteDifferences) {
  int checked = 0;
  for (const OpInfo& row : op_table()) {
    if (!row.differentiable) continue;
    int row_checked = 0;
    for (const Sample& s : row.samples)
      guarded(row, s, [&] {
        if (input_elements(s) > kGradcheckElements) return;
        Inputs in = make_inputs(s, 7, kFloat64);
        bool any = false;
        for (std::size_t i = 0; i < s.args.size(); ++i) {
          if (s.args[i].grad && in.leaves[i].is_floating_point() && in.leaves[i].numel() > 0) {
            in.leaves[i].requires_grad_();
            any = true;
          }
        }
        if (!any) return;
        const auto fn = [&](const std::vector<Tensor>& leaves) {
          std::vector<Tensor> views;
          for (std::size_t i = 0; i < leaves.size(); ++i)
            views.push_back(view_of(leaves[i], s.args[i].layout));
          return row.fn(views);
        };
        const GradcheckResult r = gradcheck(fn, in.leaves);
        EXPECT_TRUE(r.ok) << where_(row, s) << ": " << r;
        ++checked;
        ++row_checked;
      });
    // A differentiable row whose samples are all too large (or take no gradient) checks nothing.
    EXPECT_GT(row_checked, 0) << row.name << " is differentiable but no sample of it has up to "
                              << kGradcheckElements << " input elements with a gradient";
  }
  EXPECT_GT(checked, 100);
}

TEST(OpTable, Float32AgreesWithFloat64) {
  for (const OpInfo& row : op_table()) {
    if (!row.float32) continue;
    for (const Sample& s : row.samples)
      guarded(row, s, [&] {
        if (input_elements(s) > kFloat32Elements) return;
        const Tensor r64 = row.fn(make_inputs(s, 7, kFloat64).views);
        const Tensor r32 = row.fn(make_inputs(s, 7, kFloat32).views);
        const std::string what = where_(row, s);
        if (r64.dtype() == kFloat64) {
          const bool any_floating = std::any_of(s.args.begin(), s.args.end(),
                                                [](const Arg& a) { return is_floating(a.dtype); });
          EXPECT_EQ(r32.dtype(), any_floating ? kFloat32 : kFloat64) << what;
        } else {
          EXPECT_EQ(r32.dtype(), r64.dtype()) << what;
        }
        expect_within(r32, r64, kFloat32Bound, what);
      });
  }
}

// Backpropagates one random cotangent through `out` and through `expected`, then compares the
// gradient of each of `got` that has a partner in `want` (a leaf that requires grad), as
// `seen(i, gradient)` shows it, with that partner's.
void expect_same_gradients(const Tensor& out, const Tensor& expected,
                           const std::vector<Tensor>& got, const std::vector<Tensor>& want,
                           const std::function<Tensor(std::size_t, const Tensor&)>& seen, Tol tol,
                           const std::string& what) {
  const Tensor w = seeded_randn(out.shape(), out.dtype(), 3);
  (out * w).sum().backward();
  (expected * w).sum().backward();
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (!want[i].requires_grad()) continue;
    ASSERT_EQ(got[i].grad().defined(), want[i].grad().defined()) << what;
    if (!want[i].grad().defined()) continue;
    expect_within(seen(i, got[i].grad()), want[i].grad(), tol,
                  what + " (gradient of input " + std::to_string(i) + ")");
  }
}

// A strided input gives what its contiguous copy gives, and so do the gradients.
TEST(OpTable, StridedInputsMatchContiguousCopies) {
  int checked = 0;
  for (const OpInfo& row : op_table()) {
    for (const Sample& s : row.samples)
      guarded(row, s, [&] {
        if (std::all_of(s.args.begin(), s.args.end(),
                        [](const Arg& a) { return a.layout == Layout::Contiguous; }))
          return;
        const std::string what = where_(row, s);
        const Tol tol = s.tol.value_or(row.tol);
        Inputs in = make_inputs(s, 7);
        std::vector<Tensor> copies;
        for (std::size_t i = 0; i < s.args.size(); ++i) {
          copies.push_back(in.views[i].detach().contiguous());
          const bool grad =
              row.differentiable && s.args[i].grad && copies.back().is_floating_point();
          if (grad) {
            in.leaves[i].requires_grad_();
            copies.back().requires_grad_();
            in.views[i] = view_of(in.leaves[i], s.args[i].layout);
          }
        }
        const Tensor out = row.fn(in.views), expected = row.fn(copies);
        expect_within(out, expected, tol, what + " (forward)");
        ++checked;
        if (!out.requires_grad()) return;
        expect_same_gradients(
            out, expected, in.leaves, copies,
            [&](std::size_t i, const Tensor& g) { return view_of(g, s.args[i].layout); }, tol,
            what);
      });
  }
  EXPECT_GT(checked, 50);
}

// Element-wise rows against their scalar definition, element by element of the broadcast inputs.
TEST(OpTable, ElementwiseOpsMatchTheirReference) {
  int checked = 0;
  for (const OpInfo& row : op_table()) {
    if (!row.reference) continue;
    for (const Sample& s : row.samples)
      guarded(row, s, [&] {
        const std::vector<Tensor> in = make_inputs(s, 7).views;
        const Tensor out = row.fn(in);
        std::vector<std::vector<double>> values;
        for (const Tensor& t : in)
          values.push_back(expand(t.detach(), out.shape()).to_vector<double>());
        std::vector<double> expected(static_cast<std::size_t>(out.numel()));
        std::vector<double> at(in.size());
        for (std::size_t k = 0; k < expected.size(); ++k) {
          for (std::size_t i = 0; i < in.size(); ++i) at[i] = values[i][k];
          expected[k] = row.reference(at);
        }
        // The reference is rounded once; the op may round each step (float64: at most the
        // backends' transcendental bound; float32 results: a few float32 roundings).
        const Tol tol = row.tol.atol == 0         ? kExact
                        : out.dtype() == kFloat32 ? Tol{1e-6, 1e-6}
                                                  : Tol{1e-14, 1e-12};
        expect_within(out, tensor(expected, out.shape()), tol, where_(row, s));
        ++checked;
      });
  }
  EXPECT_GT(checked, 100);
}

// Ops against the same function composed of other ops: outputs and gradients.
TEST(OpTable, OpsMatchTheirCompositeReference) {
  int checked = 0;
  for (const OpInfo& row : op_table()) {
    if (!row.composite) continue;
    for (const Sample& s : row.samples)
      guarded(row, s, [&] {
        if (input_elements(s) > kFloat32Elements) return;
        const std::string what = where_(row, s);
        Inputs a = make_inputs(s, 7), b = make_inputs(s, 7);
        for (std::size_t i = 0; i < s.args.size(); ++i) {
          if (!row.differentiable || !s.args[i].grad || !a.leaves[i].is_floating_point()) continue;
          a.leaves[i].requires_grad_();
          b.leaves[i].requires_grad_();
          a.views[i] = view_of(a.leaves[i], s.args[i].layout);
          b.views[i] = view_of(b.leaves[i], s.args[i].layout);
        }
        const Tensor out = row.fn(a.views), expected = row.composite(b.views);
        EXPECT_EQ(out.dtype(), expected.dtype()) << what;
        expect_within(out, expected, kCompositeTol, what + " (forward)");
        ++checked;
        if (!out.requires_grad() || out.numel() == 0) return;
        expect_same_gradients(
            out, expected, a.leaves, b.leaves, [](std::size_t, const Tensor& g) { return g; },
            kCompositeTol, what);
      });
  }
  EXPECT_GT(checked, 40);
}

// ---------------------------------------------------------------- coverage

#ifndef MIXGRAD_SOURCE_DIR
#error "MIXGRAD_SOURCE_DIR must name the source tree (tests/CMakeLists.txt sets it)"
#endif

// The ops headers that are not public API: the umbrella header and the op layer's internal
// mechanisms.
const std::set<std::string> kInternalHeaders = {"ops.h", "inplace.h", "elementwise_impl.h"};

// The functions that every public ops header (ops/*.h) declares in namespace mixgrad, outside
// nested detail namespaces: each line that starts with `<type> name(` (a name in lower case, as
// every op's is).
std::set<std::string> public_functions() {
  const std::regex decl(
      R"(^(?:\[\[nodiscard\]\]\s*)?(?:inline\s+|static\s+)?[A-Za-z_][\w:<>, ]*[\s&*]+([a-z_][a-z_0-9]*)\()");
  const std::regex detail_open(R"(^namespace\s+[\w:]*detail\s*\{)");
  const std::regex detail_close(R"(^\}\s*//\s*namespace\s+[\w:]*detail)");
  std::set<std::string> names;
  int headers = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(MIXGRAD_SOURCE_DIR) + "/ops")) {
    const std::string file_name = entry.path().filename().string();
    if (entry.path().extension() != ".h" || kInternalHeaders.count(file_name)) continue;
    ++headers;
    std::ifstream file(entry.path());
    std::string line;
    bool skipping = false;
    while (std::getline(file, line)) {
      if (std::regex_search(line, detail_open)) skipping = true;
      if (skipping) {
        if (std::regex_search(line, detail_close)) skipping = false;
        continue;
      }
      std::smatch m;
      if (line.rfind("//", 0) == 0 || line.rfind("#", 0) == 0) continue;
      if (std::regex_search(line, m, decl)) names.insert(m[1]);
    }
  }
  EXPECT_GT(headers, 20) << "the header scan found too few ops headers";
  return names;
}

TEST(OpTable, EveryPublicOpHasARow) {
  const std::set<std::string> declared = public_functions();
  ASSERT_GT(declared.size(), 100u) << "the header scan found too few functions";
  std::set<std::string> covered;
  for (const OpInfo& row : op_table()) {
    covered.insert(row.op());
  }
  std::map<std::string, std::string> excused(not_ops().begin(), not_ops().end());
  for (const std::string& name : declared)
    EXPECT_TRUE(covered.count(name) || excused.count(name))
        << "public op " << name << " has no row in the op table (tests/optable/rows_*.cpp)";
  // And no row names an op that does not exist (a typo would cover nothing).
  for (const std::string& name : covered)
    EXPECT_TRUE(declared.count(name))
        << "the op table names " << name << ", which no public ops header declares";
  for (const auto& [name, why] : excused) {
    EXPECT_TRUE(declared.count(name)) << name << " is excused but not declared";
    EXPECT_FALSE(covered.count(name)) << name << " has a row and needs no excuse";
  }
}

TEST(OpTable, RowsAreWellFormed) {
  std::set<std::string> names, ops;
  std::size_t samples = 0;
  for (const OpInfo& row : op_table()) {
    EXPECT_TRUE(names.insert(row.name).second) << "two rows named " << row.name;
    EXPECT_FALSE(row.samples.empty()) << row.name;
    EXPECT_TRUE(row.fn) << row.name;
    ops.insert(row.op());
    samples += row.samples.size();
  }
  std::cout << "op table: " << names.size() << " rows of " << ops.size() << " ops, " << samples
            << " samples\n";
}

}  // namespace
}  // namespace mixgrad::testing
