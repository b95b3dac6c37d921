// apply_rotary: values against loops for both layouts, the fused CPU path against the composite
// one (what CUDA runs), RoPE's relative-position property, the inverse, gradients and errors.
#include "ops/rotary.h"

#include <cmath>
#include <vector>

#include "common/test_util.h"

namespace mixgrad {
namespace {

using testing::expect_close;
using testing::expect_values;
using testing::grad_input;
using testing::seeded_randn;
using Inputs = std::vector<Tensor>;

constexpr RotaryLayout kLayouts[] = {RotaryLayout::HalfSplit, RotaryLayout::Interleaved};

const char* name(RotaryLayout layout) {
  return layout == RotaryLayout::HalfSplit ? "half-split" : "interleaved";
}

// RoPE's tables: angle[t, i] = t * base^(-2i / R), as [T, R/2] cos and sin.
struct Tables {
  Tensor cos, sin;
};
Tables tables(int64_t positions, int64_t rotated, DType dtype = kFloat64, double base = 100.0) {
  const int64_t half = rotated / 2;
  std::vector<double> c, s;
  for (int64_t t = 0; t < positions; ++t)
    for (int64_t i = 0; i < half; ++i) {
      const double angle =
          static_cast<double>(t) *
          std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(rotated));
      c.push_back(std::cos(angle));
      s.push_back(std::sin(angle));
    }
  const Shape shape{positions, half};
  return {tensor(c, shape).to(dtype), tensor(s, shape).to(dtype)};
}

// The rotation of x [..., T, D] by loops, in double.
std::vector<double> reference(const Tensor& x, const Tensor& cos, const Tensor& sin,
                              RotaryLayout layout) {
  const std::vector<double> v = x.to_vector<double>(), c = cos.to_vector<double>(),
                            s = sin.to_vector<double>();
  const int64_t positions = x.size(-2), d = x.size(-1), half = cos.size(1);
  const int64_t rows = x.numel() / d;
  std::vector<double> out = v;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = r % positions;
    for (int64_t i = 0; i < half; ++i) {
      const int64_t ia = layout == RotaryLayout::HalfSplit ? i : 2 * i;
      const int64_t ib = layout == RotaryLayout::HalfSplit ? i + half : 2 * i + 1;
      const double a = v[r * d + ia], b = v[r * d + ib];
      const double ci = c[t * half + i], si = s[t * half + i];
      out[r * d + ia] = a * ci - b * si;
      out[r * d + ib] = b * ci + a * si;
    }
  }
  return out;
}

TEST(Rotary, MatchesLoopsForBothLayoutsFullAndPartial) {
  for (RotaryLayout layout : kLayouts) {
    SCOPED_TRACE(name(layout));
    for (int64_t rotated : {8, 4, 0}) {  // R = D, R < D, nothing rotated
      SCOPED_TRACE(rotated);
      const Tensor x = seeded_randn({2, 3, 5, 8}, kFloat64, 1);
      const Tables tb = tables(5, rotated);
      const Tensor y = apply_rotary(x, tb.cos, tb.sin, layout);
      EXPECT_TRUE(y.is_contiguous());
      expect_values(y, {2, 3, 5, 8}, reference(x, tb.cos, tb.sin, layout), 1e-14);
      expect_values(apply_rotary_reference(x, tb.cos, tb.sin, layout), {2, 3, 5, 8},
                    reference(x, tb.cos, tb.sin, layout), 1e-14);
    }
  }
}

TEST(Rotary, DefaultLayoutIsHalfSplit) {
  const Tensor x = seeded_randn({3, 6}, kFloat64, 2);
  const Tables tb = tables(3, 6);
  expect_values(apply_rotary(x, tb.cos, tb.sin), {3, 6},
                reference(x, tb.cos, tb.sin, RotaryLayout::HalfSplit), 1e-14);
}

TEST(Rotary, Float32AndSinglePositionAndOddUnrotatedTail) {
  for (RotaryLayout layout : kLayouts) {
    SCOPED_TRACE(name(layout));
    const Tensor x = seeded_randn({4, 1, 7}, kFloat32, 3);  // T = 1, D = 7 with R = 4
    const Tables tb = tables(1, 4, kFloat32);
    const Tensor y = apply_rotary(x, tb.cos, tb.sin, layout);
    EXPECT_EQ(y.dtype(), kFloat32);
    expect_values(y, {4, 1, 7}, reference(x, tb.cos, tb.sin, layout), 1e-6);
    const Tables later = tables(9, 4, kFloat32);  // the table of a later position
    const Tensor tail_cos = narrow(later.cos, 0, 8, 1), tail_sin = narrow(later.sin, 0, 8, 1);
    expect_values(apply_rotary(x, tail_cos, tail_sin, layout), {4, 1, 7},
                  reference(x, tail_cos, tail_sin, layout), 1e-6);
  }
}

// The usual call: q of a [B, T, H, D] projection viewed as [B, H, T, D] (not contiguous), with
// non-contiguous tables.
TEST(Rotary, NonContiguousInputAndTables) {
  for (RotaryLayout layout : kLayouts) {
    SCOPED_TRACE(name(layout));
    const Tensor x = seeded_randn({2, 5, 3, 6}, kFloat64, 4).transpose(1, 2);
    ASSERT_FALSE(x.is_contiguous());
    const Tables tb = tables(5, 6);
    const Tensor cos_t = tb.cos.t().contiguous().t(), sin_t = tb.sin.t().contiguous().t();
    ASSERT_FALSE(cos_t.is_contiguous());
    expect_values(apply_rotary(x, cos_t, sin_t, layout), {2, 3, 5, 6},
                  reference(x, tb.cos, tb.sin, layout), 1e-14);
  }
}

TEST(Rotary, EmptyInputs) {
  const Tables tb = tables(4, 2);
  EXPECT_EQ(apply_rotary(zeros({0, 4, 2}, TensorOptions(kFloat64)), tb.cos, tb.sin).shape(),
            (Shape{0, 4, 2}));
  const Tables none = tables(0, 2);
  EXPECT_EQ(apply_rotary(zeros({3, 0, 2}, TensorOptions(kFloat64)), none.cos, none.sin).shape(),
            (Shape{3, 0, 2}));
}

// The composite form gives the same values and gradients (float32 and float64).
TEST(Rotary, FusedMatchesCompositeValuesAndGradients) {
  for (RotaryLayout layout : kLayouts) {
    for (DType dtype : {kFloat32, kFloat64}) {
      SCOPED_TRACE(std::string(name(layout)) + " " + dtype_name(dtype));
      const double tol = dtype == kFloat32 ? 1e-6 : 1e-14;
      const Tensor x0 = seeded_randn({2, 3, 6, 10}, dtype, 5),
                   g = seeded_randn({2, 3, 6, 10}, dtype, 6);
      const Tables tb = tables(6, 8, dtype);
      Tensor x1 = x0.clone().requires_grad_(), x2 = x0.clone().requires_grad_();
      const Tensor fused = apply_rotary(x1, tb.cos, tb.sin, layout);
      const Tensor composite = apply_rotary_reference(x2, tb.cos, tb.sin, layout);
      expect_close(fused, composite, tol, tol);
      (fused * g).sum().backward();
      (composite * g).sum().backward();
      expect_close(x1.grad(), x2.grad(), tol, tol);
    }
  }
}

TEST(Rotary, GradcheckBothLayouts) {
  for (RotaryLayout layout : kLayouts) {
    SCOPED_TRACE(name(layout));
    for (int64_t rotated : {6, 4}) {
      const Tables tb = tables(3, rotated);
      auto fn = [&](const Inputs& in) { return apply_rotary(in[0], tb.cos, tb.sin, layout); };
      EXPECT_GRADCHECK(fn, (Inputs{grad_input({2, 3, 6}, 7)}));
      // A transposed input and a single position.
      auto transposed = [&](const Inputs& in) {
        return apply_rotary(in[0].transpose(-2, -3), tb.cos, tb.sin, layout);
      };
      EXPECT_GRADCHECK(transposed, (Inputs{grad_input({3, 2, 6}, 8)}));
      const Tables one = tables(1, rotated);
      auto single = [&](const Inputs& in) { return apply_rotary(in[0], one.cos, one.sin, layout); };
      EXPECT_GRADCHECK(single, (Inputs{grad_input({1, 6}, 9)}));
    }
  }
}

// Learned tables get their gradients (through the composite form), on every device alike.
TEST(Rotary, TablesThatRequireGradGetGradients) {
  for (RotaryLayout layout : kLayouts) {
    SCOPED_TRACE(name(layout));
    const Tables tb = tables(3, 4);
    Tensor c = tb.cos.clone().requires_grad_(), s = tb.sin.clone().requires_grad_();
    Tensor x = grad_input({2, 3, 6}, 10);
    apply_rotary(x, c, s, layout).square().sum().backward();
    ASSERT_TRUE(c.grad().defined() && s.grad().defined());
    auto fn = [&](const Inputs& in) { return apply_rotary(in[0], in[1], in[2], layout); };
    EXPECT_GRADCHECK(fn, (Inputs{grad_input({2, 3, 6}, 11), c, s}));
  }
}

// The backward is the rotation by the opposite angles, i.e. the inverse; rotating by (cos, -sin)
// after (cos, sin) gives x back.
TEST(Rotary, InverseRotationIsTheBackward) {
  for (RotaryLayout layout : kLayouts) {
    SCOPED_TRACE(name(layout));
    const Tensor x0 = seeded_randn({2, 7, 10}, kFloat64, 10),
                 g = seeded_randn({2, 7, 10}, kFloat64, 11);
    const Tables tb = tables(7, 8);
    const Tensor back =
        apply_rotary(apply_rotary(x0, tb.cos, tb.sin, layout), tb.cos, -tb.sin, layout);
    expect_close(back, x0, 1e-14, 1e-14);
    Tensor x = x0.clone().requires_grad_();
    (apply_rotary(x, tb.cos, tb.sin, layout) * g).sum().backward();
    expect_close(x.grad(), apply_rotary(g, tb.cos, -tb.sin, layout), 1e-15, 0);
    // Rotations keep each pair's length, so each row's norm.
    expect_close(square(apply_rotary(x0, tb.cos, tb.sin, layout)).sum({-1}), square(x0).sum({-1}),
                 1e-12, 1e-12);
  }
}

// RoPE's point: q . k after rotation depends on the positions only through their difference.
TEST(Rotary, DotProductDependsOnPositionDifferenceOnly) {
  for (RotaryLayout layout : kLayouts) {
    SCOPED_TRACE(name(layout));
    const int64_t positions = 12, d = 8;
    const Tensor q = seeded_randn({d}, kFloat64, 12), k = seeded_randn({d}, kFloat64, 13);
    const Tables tb = tables(positions, d);
    // The same vector at every position, rotated by that position's angles.
    const Tensor rq = apply_rotary(q.unsqueeze(0).expand({positions, d}), tb.cos, tb.sin, layout);
    const Tensor rk = apply_rotary(k.unsqueeze(0).expand({positions, d}), tb.cos, tb.sin, layout);
    auto dot = [&](int64_t m, int64_t n) { return (rq[m] * rk[n]).sum().item<double>(); };
    for (int64_t offset : {0, 1, 3, -2}) {
      SCOPED_TRACE(offset);
      const int64_t first = offset < 0 ? -offset : 0;
      const double expected = dot(first + offset, first);
      for (int64_t n = first; n + offset < positions && n < positions; ++n)
        EXPECT_NEAR(dot(n + offset, n), expected, 1e-12);
    }
    EXPECT_NEAR(dot(0, 0), (q * k).sum().item<double>(), 1e-12);  // position 0: no rotation
    EXPECT_GT(std::abs(dot(3, 0) - dot(0, 0)), 1e-3);             // it does rotate
  }
}

TEST(Rotary, RejectsBadArguments) {
  const Tensor x = seeded_randn({2, 4, 6}, kFloat32, 14);
  const Tables tb = tables(4, 6, kFloat32);
  for (auto fn : {&apply_rotary, &apply_rotary_reference}) {
    const RotaryLayout l = RotaryLayout::HalfSplit;
    EXPECT_MG_ERROR(fn(Tensor(), tb.cos, tb.sin, l), "undefined x");
    EXPECT_MG_ERROR(fn(seeded_randn({6}, kFloat32, 15), tb.cos, tb.sin, l), "at least 2 dims");
    EXPECT_MG_ERROR(fn(tensor<int32_t>({{1, 2}, {3, 4}}), tb.cos, tb.sin, l), "floating");
    EXPECT_MG_ERROR(fn(x, Tensor(), tb.sin, l), "undefined cos");
    EXPECT_MG_ERROR(fn(x, tb.cos, Tensor(), l), "undefined sin");
    EXPECT_MG_ERROR(fn(x, tb.cos.unsqueeze(0), tb.sin, l), "cos of shape [1, 4, 3]");
    EXPECT_MG_ERROR(fn(x, narrow(tb.cos, 0, 0, 3), tb.sin, l), "expected [4, R/2]");
    EXPECT_MG_ERROR(fn(x, tb.cos, narrow(tb.sin, 1, 0, 2), l), "differ");
    EXPECT_MG_ERROR(fn(x, tb.cos.to(kFloat64), tb.sin, l), "cos has dtype float64");
    EXPECT_MG_ERROR(fn(x, tb.cos, tb.sin.to(kFloat64), l), "sin has dtype float64");
    const Tables wide = tables(4, 8, kFloat32);
    EXPECT_MG_ERROR(fn(x, wide.cos, wide.sin, l), "R = 8 rotated features");
  }
}

}  // namespace
}  // namespace mixgrad
