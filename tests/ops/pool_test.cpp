// max_pool2d, avg_pool2d, adaptive_avg_pool2d: hand-computed cases, random shapes and options
// against direct nested-loop references, indices, NaN, gradients and every error.
#include "ops/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <vector>

#include "common/test_util.h"

namespace mixgrad {
namespace {

using testing::expect_close;
using testing::expect_values;
using testing::seeded_randn;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// ------------------------------------------------------------------ references

// One pooling configuration as PyTorch spells it.
struct Config {
  int64_t kh, kw, sh, sw, ph, pw, dh = 1, dw = 1;
  bool ceil_mode = false;
  bool count_include_pad = true;
  std::optional<int64_t> divisor = std::nullopt;
};

// Output size straight from PyTorch's documentation, in floating point.
int64_t ref_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  const double exact = static_cast<double>(in + 2 * p - d * (k - 1) - 1) / s;
  int64_t out = static_cast<int64_t>(ceil_mode ? std::ceil(exact) : std::floor(exact)) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

struct Reference {
  Shape shape;
  std::vector<double> values;
  std::vector<double> indices;
};

// Pools x (shape [..., H, W], values in row-major order) plane by plane with `window`, which
// maps (plane data, H, W, oh, ow) to (value, index).
template <class Window>
Reference pool_reference(const Tensor& x, int64_t out_h, int64_t out_w, Window window) {
  const std::vector<double> v = x.to_vector<double>();
  const int64_t h = x.size(-2), w = x.size(-1);
  Reference r;
  r.shape = x.shape();
  r.shape[r.shape.size() - 2] = out_h;
  r.shape[r.shape.size() - 1] = out_w;
  for (int64_t plane = 0; plane < x.numel() / (h * w); ++plane)
    for (int64_t oh = 0; oh < out_h; ++oh)
      for (int64_t ow = 0; ow < out_w; ++ow) {
        auto [value, index] = window(v.data() + plane * h * w, h, w, oh, ow);
        r.values.push_back(value);
        r.indices.push_back(static_cast<double>(index));
      }
  return r;
}

Reference max_reference(const Tensor& x, const Config& c) {
  const int64_t oh = ref_out_size(x.size(-2), c.kh, c.sh, c.ph, c.dh, c.ceil_mode);
  const int64_t ow = ref_out_size(x.size(-1), c.kw, c.sw, c.pw, c.dw, c.ceil_mode);
  return pool_reference(
      x, oh, ow, [&](const double* p, int64_t h, int64_t w, int64_t i, int64_t j) {
        double best = -kInf;
        int64_t at = -1;
        for (int64_t a = 0; a < c.kh; ++a)
          for (int64_t b = 0; b < c.kw; ++b) {
            const int64_t y = i * c.sh - c.ph + a * c.dh, x = j * c.sw - c.pw + b * c.dw;
            if (y < 0 || y >= h || x < 0 || x >= w) continue;
            const double v = p[y * w + x];
            if (at < 0 || v > best || std::isnan(v)) {
              best = v;
              at = y * w + x;
            }
          }
        return std::pair{best, at};
      });
}

Reference avg_reference(const Tensor& x, const Config& c) {
  const int64_t oh = ref_out_size(x.size(-2), c.kh, c.sh, c.ph, 1, c.ceil_mode);
  const int64_t ow = ref_out_size(x.size(-1), c.kw, c.sw, c.pw, 1, c.ceil_mode);
  return pool_reference(
      x, oh, ow, [&](const double* p, int64_t h, int64_t w, int64_t i, int64_t j) {
        // The padded window stops at the far padding edge; ceil_mode's overhang beyond it is not
        // counted even with count_include_pad.
        const int64_t y0 = i * c.sh - c.ph, x0 = j * c.sw - c.pw;
        const int64_t y1 = std::min(y0 + c.kh, h + c.ph), x1 = std::min(x0 + c.kw, w + c.pw);
        double sum = 0;
        int64_t inside = 0;
        for (int64_t y = y0; y < y1; ++y)
          for (int64_t x = x0; x < x1; ++x)
            if (y >= 0 && y < h && x >= 0 && x < w) {
              sum += p[y * w + x];
              ++inside;
            }
        const double divisor = c.divisor             ? static_cast<double>(*c.divisor)
                               : c.count_include_pad ? static_cast<double>((y1 - y0) * (x1 - x0))
                                                     : static_cast<double>(inside);
        return std::pair{sum / divisor, int64_t{0}};
      });
}

Reference adaptive_reference(const Tensor& x, int64_t oh, int64_t ow) {
  return pool_reference(
      x, oh, ow, [&](const double* p, int64_t h, int64_t w, int64_t i, int64_t j) {
        const auto bounds = [](int64_t o, int64_t in, int64_t out) {
          return std::pair{
              static_cast<int64_t>(std::floor(static_cast<double>(o * in) / out)),
              static_cast<int64_t>(std::ceil(static_cast<double>((o + 1) * in) / out))};
        };
        auto [y0, y1] = bounds(i, h, oh);
        auto [x0, x1] = bounds(j, w, ow);
        double sum = 0;
        for (int64_t y = y0; y < y1; ++y)
          for (int64_t x = x0; x < x1; ++x) sum += p[y * w + x];
        return std::pair{sum / static_cast<double>((y1 - y0) * (x1 - x0)), int64_t{0}};
      });
}

MaxPool2dOptions max_options(const Config& c) {
  return {.stride = {c.sh, c.sw},
          .padding = {c.ph, c.pw},
          .dilation = {c.dh, c.dw},
          .ceil_mode = c.ceil_mode};
}

AvgPool2dOptions avg_options(const Config& c) {
  return {.stride = {c.sh, c.sw},
          .padding = {c.ph, c.pw},
          .ceil_mode = c.ceil_mode,
          .count_include_pad = c.count_include_pad,
          .divisor_override = c.divisor};
}

// A random input shape (3-D or 4-D) whose spatial dims admit the config, and the config.
struct RandomCase {
  Shape shape;
  Config config;
};

RandomCase random_case(std::mt19937& gen, bool dilated) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(gen);
  };
  Config c{pick(1, 4), pick(1, 4), pick(1, 3), pick(1, 3), 0, 0};
  c.ph = pick(0, c.kh / 2);
  c.pw = pick(0, c.kw / 2);
  if (dilated) {
    c.dh = pick(1, 3);
    c.dw = pick(1, 3);
  }
  c.ceil_mode = pick(0, 1) == 1;
  c.count_include_pad = pick(0, 1) == 1;
  if (pick(0, 3) == 0) c.divisor = pick(1, 5);
  // Big enough for at least one full (dilated) window.
  const int64_t h = pick(c.dh * (c.kh - 1) + 1, 11), w = pick(c.dw * (c.kw - 1) + 1, 11);
  RandomCase rc{pick(0, 1) ? Shape{pick(1, 3), pick(1, 3), h, w} : Shape{pick(1, 3), h, w}, c};
  return rc;
}

// Distinct values spaced 0.1 apart in random order: max pooling is differentiable there and
// finite differences never change which element wins.
Tensor distinct_input(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return (randperm(n, kFloat64, &gen) * 0.1).reshape(shape).detach().requires_grad_();
}

// ------------------------------------------------------------------ max_pool2d values

TEST(MaxPool2d, HandComputed2x2) {
  Tensor x = tensor({1.f, 2.f, 5.f, 3.f,  //
                     4.f, 0.f, 1.f, 8.f,  //
                     7.f, 9.f, 2.f, 2.f,  //
                     9.f, 6.f, 3.f, 1.f})
                 .reshape({1, 1, 4, 4});
  expect_values(max_pool2d(x, 2), {1, 1, 2, 2}, {4, 8, 9, 3});
  auto [y, idx] = max_pool2d_with_indices(x, 2);
  expect_values(y, {1, 1, 2, 2}, {4, 8, 9, 3});
  EXPECT_EQ(idx.dtype(), kInt64);
  // Ties keep the first maximum: the 9s at (2, 1) and (3, 0) tie, the first wins.
  expect_values(idx, {1, 1, 2, 2}, {4, 7, 9, 14});
}

TEST(MaxPool2d, StridePaddingDilationHandComputed) {
  // 1x5 row, kernel (1, 2), dilation (1, 2), stride 1, padding (0, 1): windows cover columns
  // {-1, 1}, {0, 2}, {1, 3}, {2, 4}, {3, 5}; ties ({1, 3}) keep the first.
  Tensor x = tensor({3., 1., 4., 1., 5.}).reshape({1, 1, 5});
  auto [y, idx] =
      max_pool2d_with_indices(x, {1, 2}, {.stride = 1, .padding = {0, 1}, .dilation = {1, 2}});
  expect_values(y, {1, 1, 5}, {1, 4, 1, 5, 1});
  expect_values(idx, {1, 1, 5}, {1, 2, 1, 4, 3});
}

TEST(MaxPool2d, CeilModeKeepsPartialWindowsThatStartInside) {
  Tensor x = arange(1, 10, 1, kFloat32).reshape({1, 3, 3});
  // floor: one window; ceil: a second, partial one starting at row / column 2.
  expect_values(max_pool2d(x, 2), {1, 1, 1}, {5});
  expect_values(max_pool2d(x, 2, {.ceil_mode = true}), {1, 2, 2}, {5, 6, 8, 9});
  // Width 5, kernel 2, stride 2, padding 1: ceil would add a fourth window starting at column
  // 5, in the right padding, so it is dropped; the windows are {-1, 0}, {1, 2}, {3, 4}.
  Tensor row = arange(1, 6, 1, kFloat32).reshape({1, 1, 5});
  expect_values(max_pool2d(row, {1, 2}, {.stride = {1, 2}, .padding = {0, 1}, .ceil_mode = true}),
                {1, 1, 3}, {1, 3, 5});
}

TEST(MaxPool2d, RandomShapesMatchReference) {
  std::mt19937 gen(7);
  for (int trial = 0; trial < 60; ++trial) {
    const RandomCase rc = random_case(gen, true);
    const Config& c = rc.config;
    SCOPED_TRACE(::testing::Message()
                 << "trial " << trial << " shape " << ::testing::PrintToString(rc.shape) << " k "
                 << c.kh << "x" << c.kw << " s " << c.sh << "x" << c.sw << " p " << c.ph << "x"
                 << c.pw << " d " << c.dh << "x" << c.dw << " ceil " << c.ceil_mode);
    for (DType dtype : {kFloat32, kFloat64}) {
      Tensor x = seeded_randn(rc.shape, dtype, trial);
      const Reference ref = max_reference(x, c);
      auto [y, idx] = max_pool2d_with_indices(x, {c.kh, c.kw}, max_options(c));
      EXPECT_EQ(y.dtype(), dtype);
      expect_values(y, ref.shape, ref.values);
      expect_values(idx, ref.shape, ref.indices);
      expect_values(max_pool2d(x, {c.kh, c.kw}, max_options(c)), ref.shape, ref.values);
    }
  }
}

TEST(MaxPool2d, StridedInputAndDefaultStride) {
  Tensor base = seeded_randn({2, 3, 7, 6}, kFloat64, 3);
  Tensor x = base.transpose(2, 3);  // [2, 3, 6, 7], not contiguous
  Config c{3, 2, 3, 2, 1, 1};
  expect_values(max_pool2d(x, {3, 2}, {.padding = 1}), max_reference(x, c).shape,
                max_reference(x, c).values);
}

TEST(MaxPool2d, NaNPropagates) {
  Tensor x = tensor({1., kNaN, 3., 4., 5., 6., 7., 8.}).reshape({1, 2, 4});
  auto [y, idx] = max_pool2d_with_indices(x, 2);
  expect_values(y, {1, 1, 2}, {kNaN, 8});
  expect_values(idx, {1, 1, 2}, {1, 7});
}

TEST(MaxPool2d, IntegerInput) {
  Tensor x = tensor(std::vector<int64_t>{-5, -2, 7, 1, 0, -9}, Shape{1, 2, 3});
  auto [y, idx] = max_pool2d_with_indices(x, {2, 1}, {.stride = 1});
  EXPECT_EQ(y.dtype(), kInt64);
  expect_values(y, {1, 1, 3}, {1, 0, 7});
  expect_values(idx, {1, 1, 3}, {3, 4, 2});
  Tensor x32 = x.to(kInt32);
  expect_values(max_pool2d(x32, {2, 1}, {.stride = 1}), {1, 1, 3}, {1, 0, 7});
}

TEST(MaxPool2d, WindowWithNoInputElementGivesMinusInfinityAndNoGradient) {
  // Width 2, kernel 2 dilated by 3, padding 1: the only window covers columns -1 and 2.
  Tensor x = tensor({1., 2.}).reshape({1, 1, 2}).requires_grad_();
  auto [y, idx] =
      max_pool2d_with_indices(x, {1, 2}, {.stride = 1, .padding = {0, 1}, .dilation = {1, 3}});
  expect_values(y, {1, 1, 1}, {-kInf});
  expect_values(idx, {1, 1, 1}, {-1});
  y.sum().backward();
  expect_values(x.grad(), {1, 1, 2}, {0, 0});
}

TEST(MaxPool2d, EmptyBatchGivesEmptyOutput) {
  EXPECT_EQ(max_pool2d(zeros({0, 2, 4, 4}), 2).shape(), (Shape{0, 2, 2, 2}));
}

// ------------------------------------------------------------------ max_pool2d gradients

TEST(MaxPool2d, BackwardScattersThroughIndicesAndAccumulatesOverlaps) {
  // Stride 1 windows {1, 3} and {3, 2} both pick the 3.
  Tensor x = tensor({1., 3., 2.}).reshape({1, 1, 3}).requires_grad_();
  Tensor y = max_pool2d(x, {1, 2}, {.stride = 1});
  (y * tensor({10., 20.}).reshape({1, 1, 2})).sum().backward();
  expect_values(x.grad(), {1, 1, 3}, {0, 30, 0});
}

TEST(MaxPool2d, BackwardMatchesReferenceScatter) {
  std::mt19937 gen(11);
  for (int trial = 0; trial < 20; ++trial) {
    const RandomCase rc = random_case(gen, true);
    const Config& c = rc.config;
    Tensor x = distinct_input(rc.shape, trial);
    Tensor y = max_pool2d(x, {c.kh, c.kw}, max_options(c));
    Tensor g = seeded_randn(y.shape(), kFloat64, 100 + trial);
    (y * g).sum().backward();
    const Reference ref = max_reference(x.detach(), c);
    const int64_t plane_in = x.size(-2) * x.size(-1), plane_out = y.size(-2) * y.size(-1);
    std::vector<double> expected(x.numel(), 0.0);
    const std::vector<double> gv = g.to_vector<double>();
    for (size_t o = 0; o < gv.size(); ++o) {
      const int64_t plane = static_cast<int64_t>(o) / plane_out;
      if (ref.indices[o] >= 0)
        expected[plane * plane_in + static_cast<int64_t>(ref.indices[o])] += gv[o];
    }
    expect_values(x.grad(), x.shape(), expected, 1e-12);
  }
}

TEST(MaxPool2d, Gradcheck) {
  const std::vector<std::pair<Shape, Config>> cases = {
      {{2, 2, 6, 5}, Config{2, 2, 2, 2, 0, 0}},
      {{2, 5, 7}, Config{3, 2, 2, 1, 1, 1, 1, 2, true}},
      {{1, 3, 8, 8}, Config{3, 3, 1, 2, 1, 0, 2, 1, false}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Config c = cases[i].second;
    auto fn = [c](const std::vector<Tensor>& in) {
      return max_pool2d(in[0], {c.kh, c.kw}, max_options(c));
    };
    std::vector<Tensor> inputs{distinct_input(cases[i].first, i)};
    EXPECT_GRADCHECK(fn, inputs);
  }
}

// ------------------------------------------------------------------ avg_pool2d

TEST(AvgPool2d, PaddingDivisorsHandComputed) {
  // Kernel 2, stride 2, padding 1 on [[1, 2], [3, 4]]: every window holds one element and
  // three padded zeros.
  Tensor x = tensor({{1.0, 2.0}, {3.0, 4.0}}).reshape({1, 1, 2, 2});
  expect_values(avg_pool2d(x, 2, {.padding = 1}), {1, 1, 2, 2}, {0.25, 0.5, 0.75, 1.0});
  expect_values(avg_pool2d(x, 2, {.padding = 1, .count_include_pad = false}), {1, 1, 2, 2},
                {1, 2, 3, 4});
  expect_values(avg_pool2d(x, 2, {.padding = 1, .divisor_override = 2}), {1, 1, 2, 2},
                {0.5, 1, 1.5, 2});
}

TEST(AvgPool2d, CeilModeOverhangIsNotCounted) {
  Tensor x = arange(1, 10, 1, kFloat64).reshape({1, 3, 3});
  expect_values(avg_pool2d(x, 2, {.ceil_mode = true}), {1, 2, 2}, {3, 4.5, 7.5, 9});
  expect_values(avg_pool2d(x, {3, 1}, {.stride = 1}), {1, 1, 3}, {4, 5, 6});
}

TEST(AvgPool2d, RandomShapesMatchReference) {
  std::mt19937 gen(21);
  for (int trial = 0; trial < 60; ++trial) {
    const RandomCase rc = random_case(gen, false);
    const Config& c = rc.config;
    SCOPED_TRACE(::testing::Message()
                 << "trial " << trial << " shape " << ::testing::PrintToString(rc.shape) << " k "
                 << c.kh << "x" << c.kw << " s " << c.sh << "x" << c.sw << " p " << c.ph << "x"
                 << c.pw << " ceil " << c.ceil_mode << " include_pad " << c.count_include_pad
                 << " divisor " << c.divisor.value_or(0));
    for (DType dtype : {kFloat32, kFloat64}) {
      Tensor x = seeded_randn(rc.shape, dtype, 50 + trial);
      const Reference ref = avg_reference(x, c);
      Tensor y = avg_pool2d(x, {c.kh, c.kw}, avg_options(c));
      EXPECT_EQ(y.dtype(), dtype);
      expect_values(y, ref.shape, ref.values, dtype == kFloat32 ? 1e-5 : 1e-12);
    }
  }
}

TEST(AvgPool2d, Gradcheck) {
  const std::vector<std::pair<Shape, Config>> cases = {
      {{2, 2, 6, 5}, Config{2, 2, 2, 2, 0, 0}},
      {{2, 5, 7}, Config{3, 2, 2, 1, 1, 1, 1, 1, true, false}},
      {{1, 2, 7, 6}, Config{3, 3, 2, 2, 1, 1, 1, 1, true, true}},
      {{1, 2, 5, 5}, Config{2, 3, 1, 2, 1, 1, 1, 1, false, true, 3}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Config c = cases[i].second;
    auto fn = [c](const std::vector<Tensor>& in) {
      return avg_pool2d(in[0], {c.kh, c.kw}, avg_options(c));
    };
    std::vector<Tensor> inputs{testing::grad_input(cases[i].first, i)};
    EXPECT_GRADCHECK(fn, inputs);
  }
}

// ------------------------------------------------------------------ adaptive_avg_pool2d

TEST(AdaptiveAvgPool2d, OverlappingWindowsHandComputed) {
  // Width 5 into 3: columns [0, 2), [1, 4), [3, 5).
  Tensor x = tensor({1., 2., 3., 4., 5.}).reshape({1, 1, 5});
  expect_values(adaptive_avg_pool2d(x, {1, 3}), {1, 1, 3}, {1.5, 3, 4.5});
  // Global average.
  Tensor y = arange(0, 24, 1, kFloat32).reshape({2, 3, 2, 2});
  expect_values(adaptive_avg_pool2d(y, 1), {2, 3, 1, 1}, {1.5, 5.5, 9.5, 13.5, 17.5, 21.5});
}

TEST(AdaptiveAvgPool2d, RandomShapesMatchReference) {
  std::mt19937 gen(31);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(gen);
  };
  for (int trial = 0; trial < 40; ++trial) {
    const Shape shape = pick(0, 1) ? Shape{pick(1, 3), pick(1, 3), pick(1, 12), pick(1, 12)}
                                   : Shape{pick(1, 3), pick(1, 12), pick(1, 12)};
    // Output sizes up to above the input's: windows then repeat elements.
    const int64_t oh = pick(1, 9), ow = pick(1, 9);
    for (DType dtype : {kFloat32, kFloat64}) {
      Tensor x = seeded_randn(shape, dtype, 200 + trial);
      const Reference ref = adaptive_reference(x, oh, ow);
      expect_values(adaptive_avg_pool2d(x, {oh, ow}), ref.shape, ref.values,
                    dtype == kFloat32 ? 1e-5 : 1e-12);
    }
  }
}

TEST(AdaptiveAvgPool2d, Gradcheck) {
  for (auto [shape, out] : std::vector<std::pair<Shape, SpatialSize<2>>>{
           {{2, 2, 7, 5}, {3, 2}}, {{3, 4, 3}, {5, 4}}, {{1, 2, 4, 4}, 1}}) {
    // A named copy: clang 14 cannot capture a structured binding (P1091 came in clang 16).
    auto fn = [size = out](const std::vector<Tensor>& in) {
      return adaptive_avg_pool2d(in[0], size);
    };
    std::vector<Tensor> inputs{testing::grad_input(shape, out[0])};
    EXPECT_GRADCHECK(fn, inputs);
  }
}

// ------------------------------------------------------------------ errors

TEST(Pool2d, RankAndEmptyDimErrors) {
  EXPECT_MG_ERROR(max_pool2d(zeros({4, 4}), 2), "expected a 3-D [C, H, W] or 4-D");
  EXPECT_MG_ERROR(max_pool2d(zeros({1, 1, 1, 4, 4}), 2), "got shape [1, 1, 1, 4, 4]");
  EXPECT_MG_ERROR(avg_pool2d(zeros({4}), 2), "avg_pool2d");
  EXPECT_MG_ERROR(adaptive_avg_pool2d(zeros({4, 4}), 2), "adaptive_avg_pool2d");
  EXPECT_MG_ERROR(max_pool2d(zeros({1, 0, 4, 4}), 2), "non-zero channel and spatial sizes");
  EXPECT_MG_ERROR(avg_pool2d(zeros({1, 4, 0}), 2), "non-zero channel and spatial sizes");
  EXPECT_MG_ERROR(adaptive_avg_pool2d(zeros({2, 1, 0, 3}), 1), "got shape [2, 1, 0, 3]");
  EXPECT_MG_ERROR(max_pool2d(Tensor(), 2), "undefined");
}

TEST(Pool2d, WindowParameterErrors) {
  Tensor x = zeros({1, 1, 6, 6});
  EXPECT_MG_ERROR(max_pool2d(x, 0), "kernel_size must be positive, got (0, 0)");
  EXPECT_MG_ERROR(avg_pool2d(x, {2, -1}), "avg_pool2d: kernel_size must be positive, got (2, -1)");
  EXPECT_MG_ERROR(max_pool2d(x, 2, {.stride = 0}), "stride must be positive, got (0, 0)");
  EXPECT_MG_ERROR(avg_pool2d(x, 2, {.stride = {1, -2}}), "stride must be positive, got (1, -2)");
  EXPECT_MG_ERROR(max_pool2d(x, 2, {.dilation = {0, 1}}), "dilation must be positive");
  EXPECT_MG_ERROR(max_pool2d(x, 3, {.padding = 2}),
                  "at most half of kernel_size, got padding (2, 2) for kernel_size (3, 3)");
  EXPECT_MG_ERROR(avg_pool2d(x, {4, 2}, {.padding = {2, 2}}), "at most half of kernel_size");
  EXPECT_MG_ERROR(max_pool2d(x, 2, {.padding = -1}), "padding must be non-negative");
  EXPECT_MG_ERROR(max_pool2d_with_indices(x, 2, {.padding = {0, 3}}), "max_pool2d_with_indices");
}

TEST(Pool2d, OutputTooSmallErrors) {
  EXPECT_MG_ERROR(max_pool2d(zeros({1, 1, 3, 3}), 4),
                  "max_pool2d: input shape [1, 1, 3, 3] with kernel_size (4, 4)");
  EXPECT_MG_ERROR(max_pool2d(zeros({1, 3, 3}), {2, 2}, {.dilation = 3}),
                  "gives an output size of (0, 0), which is too small");
  EXPECT_MG_ERROR(avg_pool2d(zeros({1, 5, 2}), {1, 3}), "gives an output size of (5, 0)");
}

TEST(Pool2d, DtypeAndDivisorErrors) {
  EXPECT_MG_ERROR(avg_pool2d(zeros({1, 4, 4}, kInt64), 2),
                  "avg_pool2d: expected a floating input, got int64");
  EXPECT_MG_ERROR(adaptive_avg_pool2d(zeros({1, 4, 4}, kInt32), 2),
                  "adaptive_avg_pool2d: expected a floating input, got int32");
  EXPECT_MG_ERROR(max_pool2d(zeros({1, 4, 4}, kBool), 2), "max_pool2d: expected a numeric input");
  EXPECT_MG_ERROR(avg_pool2d(zeros({1, 4, 4}), 2, {.divisor_override = 0}),
                  "divisor_override must not be 0");
}

TEST(Pool2d, AdaptiveOutputSizeErrors) {
  EXPECT_MG_ERROR(adaptive_avg_pool2d(zeros({1, 4, 4}), 0),
                  "adaptive_avg_pool2d: output_size must be positive, got (0, 0)");
  EXPECT_MG_ERROR(adaptive_avg_pool2d(zeros({1, 4, 4}), {3, -1}), "got (3, -1)");
}

}  // namespace
}  // namespace mixgrad
