#pragma once
// Shared assertions for mixgrad tests.
#include <gtest/gtest.h>
#include <mixgrad.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace mixgrad::testing {

// Values of `t` (any dtype/layout) equal `expected` exactly, and its shape is `shape`.
inline void expect_values(const Tensor& t, const Shape& shape, const std::vector<double>& expected,
                          double tol = 0.0) {
  ASSERT_TRUE(t.defined());
  EXPECT_EQ(t.shape(), shape);
  std::vector<double> got = t.to_vector<double>();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(expected[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i;
    } else if (tol == 0.0 || std::isinf(expected[i])) {
      EXPECT_EQ(got[i], expected[i]) << "element " << i;
    } else {
      EXPECT_NEAR(got[i], expected[i], tol) << "element " << i;
    }
  }
}

// `a` and `b` have the same shape and values within atol + rtol * |b|.
inline void expect_close(const Tensor& a, const Tensor& b, double atol = 1e-6, double rtol = 1e-5) {
  ASSERT_TRUE(a.defined() && b.defined());
  ASSERT_EQ(a.shape(), b.shape());
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_LE(std::fabs(x[i] - y[i]), atol + rtol * std::fabs(y[i]))
        << "element " << i << ": " << x[i] << " vs " << y[i];
}

using UnaryFn = std::function<Tensor(const Tensor&)>;
// An op in a table of ops that a test loops over; the name is reported when a check fails.
struct NamedOp {
  const char* name;
  UnaryFn fn;
};

// Sets the CPU thread count for a scope and restores the previous one at its end (also when an
// assertion leaves the test early).
class ScopedNumThreads {
 public:
  explicit ScopedNumThreads(int n) : saved_(get_num_threads()) { set_num_threads(n); }
  ~ScopedNumThreads() { set_num_threads(saved_); }
  ScopedNumThreads(const ScopedNumThreads&) = delete;
  ScopedNumThreads& operator=(const ScopedNumThreads&) = delete;

 private:
  int saved_;
};

// Standard-normal values of `dtype` from a fixed seed.
inline Tensor seeded_randn(const Shape& shape, DType dtype, uint64_t seed) {
  Generator gen(seed);
  return randn(shape, TensorOptions(dtype), &gen);
}

// A float64 leaf that requires grad, with values from a fixed seed (for gradcheck).
inline Tensor grad_input(const Shape& shape, uint64_t seed = 1) {
  Generator gen(seed);
  return randn(shape, kFloat64, &gen).requires_grad_();
}

}  // namespace mixgrad::testing

// Expects `stmt` to throw mixgrad::Error whose message contains `substring`.
#define EXPECT_MG_ERROR(stmt, substring)                                               \
  do {                                                                                 \
    try {                                                                              \
      stmt;                                                                            \
      ADD_FAILURE() << "expected mixgrad::Error containing \"" << (substring) << "\""; \
    } catch (const ::mixgrad::Error& e) {                                              \
      EXPECT_NE(std::string(e.what()).find(substring), std::string::npos)              \
          << "message was: " << e.what();                                              \
    }                                                                                  \
  } while (0)

// gradcheck that reports the mismatch on failure.
#define EXPECT_GRADCHECK(fn, inputs)                          \
  do {                                                        \
    auto mg_gc_result = ::mixgrad::gradcheck((fn), (inputs)); \
    EXPECT_TRUE(mg_gc_result.ok) << mg_gc_result;             \
  } while (0)
