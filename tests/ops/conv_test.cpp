#include "ops/conv.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <vector>

#include "common/kernel_counter.h"
#include "common/test_util.h"

namespace mg = mixgrad;
using mg::Tensor;
using Inputs = std::vector<Tensor>;
using mg::testing::CallCounter;
using mg::testing::expect_close;
using mg::testing::expect_values;
using mg::testing::grad_input;

namespace {

// A 2-D convolution spelled out element by element; 1-D cases run it with height 1.
struct RefConfig {
  int64_t n, c, h, w;  // input
  int64_t o, kh, kw;   // weight [o, c / groups, kh, kw]
  int64_t sh = 1, sw = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t dh = 1, dw = 1;
  int64_t groups = 1;

  int64_t out_h() const { return (h + pad_top + pad_bottom - dh * (kh - 1) - 1) / sh + 1; }
  int64_t out_w() const { return (w + pad_left + pad_right - dw * (kw - 1) - 1) / sw + 1; }
};

struct RefResult {
  std::vector<double> out, grad_x, grad_w, grad_b;
};

// out = conv(x, w) + b, and the gradients of sum(out * grad_out).
RefResult reference(const RefConfig& r, const std::vector<double>& x, const std::vector<double>& w,
                    const std::vector<double>& b, const std::vector<double>& grad_out) {
  const int64_t oh = r.out_h(), ow = r.out_w(), cg = r.c / r.groups, og = r.o / r.groups;
  RefResult res;
  res.out.assign(r.n * r.o * oh * ow, 0.0);
  res.grad_x.assign(x.size(), 0.0);
  res.grad_w.assign(w.size(), 0.0);
  res.grad_b.assign(r.o, 0.0);
  for (int64_t n = 0; n < r.n; ++n)
    for (int64_t o = 0; o < r.o; ++o)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t xo = 0; xo < ow; ++xo) {
          const int64_t oi = ((n * r.o + o) * oh + y) * ow + xo;
          double acc = b.empty() ? 0.0 : b[o];
          res.grad_b[o] += grad_out[oi];
          for (int64_t ci = 0; ci < cg; ++ci) {
            const int64_t c = (o / og) * cg + ci;
            for (int64_t i = 0; i < r.kh; ++i)
              for (int64_t j = 0; j < r.kw; ++j) {
                const int64_t iy = y * r.sh - r.pad_top + i * r.dh;
                const int64_t ix = xo * r.sw - r.pad_left + j * r.dw;
                if (iy < 0 || iy >= r.h || ix < 0 || ix >= r.w) continue;
                const int64_t xi = ((n * r.c + c) * r.h + iy) * r.w + ix;
                const int64_t wi = ((o * cg + ci) * r.kh + i) * r.kw + j;
                acc += x[xi] * w[wi];
                res.grad_x[xi] += grad_out[oi] * w[wi];
                res.grad_w[wi] += grad_out[oi] * x[xi];
              }
          }
          res.out[oi] = acc;
        }
  return res;
}

struct Case {
  const char* name;
  RefConfig ref;
  mg::Conv2dOptions options;
  bool bias;
};

// Every configuration the forward and backward are compared on; padding in `ref` is what
// `options` should amount to.
std::vector<Case> cases() {
  using mg::Padding;
  return {
      {"plain 3x3", {2, 3, 7, 6, 4, 3, 3}, {}, true},
      {"stride 2 pad 1",
       {2, 3, 9, 8, 5, 3, 3, 2, 2, 1, 1, 1, 1},
       {.stride = 2, .padding = 1},
       false},
      {"per-dim stride/pad",
       {1, 2, 8, 9, 3, 2, 3, 1, 3, 2, 0, 2, 0},
       {.stride = {1, 3}, .padding = {2, 0}},
       true},
      {"dilation 2",
       {2, 2, 9, 9, 3, 3, 2, 1, 1, 1, 1, 1, 1, 2, 3},
       {.padding = 1, .dilation = {2, 3}},
       true},
      {"groups 2",
       {3, 4, 6, 5, 6, 3, 3, 1, 2, 1, 1, 1, 1, 1, 1, 2},
       {.stride = {1, 2}, .padding = 1, .groups = 2},
       true},
      {"depthwise",
       {2, 4, 7, 7, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 4},
       {.stride = 2, .padding = 1, .groups = 4},
       false},
      {"depthwise multiplier 2",
       {2, 3, 5, 6, 6, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1, 3},
       {.padding = {1, 0}, .groups = 3},
       true},
      {"same odd kernel",
       {2, 3, 6, 7, 2, 3, 5, 1, 1, 1, 2, 1, 2},
       {.padding = Padding::Same},
       true},
      // Even kernel / dilation: total padding odd, the extra row / column at the bottom / right.
      {"same even kernel",
       {2, 2, 5, 6, 3, 2, 4, 1, 1, 0, 1, 1, 2},
       {.padding = Padding::Same},
       true},
      {"same dilated",
       {1, 2, 7, 6, 2, 2, 3, 1, 1, 1, 2, 2, 2, 3, 2},
       {.padding = Padding::Same, .dilation = {3, 2}},
       false},
      {"valid", {2, 3, 6, 5, 2, 3, 2}, {.padding = Padding::Valid}, true},
      {"1x1", {3, 6, 4, 5, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 2}, {.groups = 2}, true},
      {"1x1 stride 2", {2, 4, 5, 5, 3, 1, 1, 2, 2}, {.stride = 2}, true},
      {"kernel as large as padded input",
       {2, 2, 3, 4, 2, 5, 4, 1, 1, 1, 0, 1, 0},
       {.padding = {1, 0}},
       true},
      // Output planes of >= 256 positions take the per-sample GEMMs (smaller ones chunk-wide
      // GEMMs), and a 1x1 kernel there reads the input as its own columns.
      {"per-sample grouped",
       {2, 4, 17, 16, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},
       {.padding = 1, .groups = 2},
       true},
      {"per-sample 1x1", {2, 6, 16, 17, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 2}, {.groups = 2}, true},
      // Columns of 30 samples span several chunks: exercises chunked forward and accumulation.
      {"many chunks", {30, 16, 32, 32, 3, 3, 3, 1, 1, 1, 1, 1, 1}, {.padding = 1}, true},
      // Few output channels, stride 1, one group, rows of >= 16 outputs: the direct kernels (no
      // columns), with rows that end mid-vector, padding and dilation; the CIFAR CNN's first conv.
      {"direct dilated same",
       {3, 3, 9, 21, 5, 3, 3, 1, 1, 2, 3, 2, 3, 2, 3},
       {.padding = Padding::Same, .dilation = {2, 3}},
       true},
      {"direct padded rows", {2, 2, 6, 40, 8, 2, 5, 1, 1, 1, 0, 1, 0}, {.padding = {1, 0}}, false},
      {"direct cifar conv1", {3, 3, 32, 32, 6, 5, 5}, {}, true},
      // At least 32 output channels per group and 128 columns per chunk: the weight gradient
      // accumulates transposed (chunk-wide and per-sample GEMMs).
      {"transposed weight gradient grouped",
       {2, 4, 8, 10, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},
       {.padding = 1, .groups = 2},
       true},
      // One sample's columns fill the columns budget (chunks of one sample): the backward runs
      // whole samples per thread when there are several threads (the ResNet block's shape).
      {"one-sample chunks", {3, 64, 32, 32, 12, 3, 3, 1, 1, 1, 1, 1, 1}, {.padding = 1}, false},
      {"one-sample chunks grouped strided",
       {3, 64, 63, 64, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2},
       {.stride = 2, .padding = 1, .groups = 2},
       true},
      {"transposed weight gradient per-sample",
       {2, 3, 16, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1},
       {.padding = 1},
       false},
      // 3x3, stride 1, one group, >= 8 input and >= 16 output channels: Winograd F(2x2, 3x3),
      // with odd output sizes (cropped tiles), no padding, paddings 2 and 3, a 1 x 2 output, and
      // a batch of several chunks (4 samples each: at 2 threads a worker takes two of them).
      {"winograd odd planes", {2, 16, 7, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1}, {.padding = 1}, true},
      {"winograd valid", {2, 17, 6, 5, 18, 3, 3}, {.padding = Padding::Valid}, false},
      {"winograd per-dim padding",
       {1, 16, 5, 6, 20, 3, 3, 1, 1, 2, 3, 2, 3},
       {.padding = {2, 3}},
       true},
      {"winograd tiny output", {2, 8, 3, 4, 16, 3, 3}, {.padding = Padding::Valid}, true},
      {"winograd groups 2",
       {2, 16, 7, 6, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},
       {.padding = 1, .groups = 2},
       true},
      {"winograd several chunks",
       {9, 8, 16, 16, 256, 3, 3, 1, 1, 1, 1, 1, 1},
       {.padding = Padding::Same},
       false},
  };
}

std::vector<double> random_values(int64_t count, uint64_t seed) {
  mg::Generator gen(seed);
  return mg::randn({count}, mg::kFloat64, &gen).to_vector<double>();
}

using ConvFn = std::function<Tensor(const Tensor& x, const Tensor& w, const Tensor& b)>;

// Runs `conv` forward and backward in `dtype` on random values (seeds first_seed..first_seed + 3)
// against the nested-loop reference for `r`; x, w and out have the op's own shapes.
void check_against_reference(const RefConfig& r, bool bias, const mg::Shape& x_shape,
                             const mg::Shape& w_shape, const mg::Shape& out_shape,
                             const ConvFn& conv, mg::DType dtype, double tol, uint64_t first_seed) {
  const auto xv = random_values(mg::numel_of(x_shape), first_seed);
  const auto wv = random_values(mg::numel_of(w_shape), first_seed + 1);
  const auto bv = bias ? random_values(r.o, first_seed + 2) : std::vector<double>();
  const auto gv = random_values(mg::numel_of(out_shape), first_seed + 3);
  const RefResult expected = reference(r, xv, wv, bv, gv);

  Tensor x = mg::tensor(xv, x_shape, dtype).requires_grad_();
  Tensor w = mg::tensor(wv, w_shape, dtype).requires_grad_();
  Tensor b = bias ? mg::tensor(bv, mg::Shape{r.o}, dtype).requires_grad_() : Tensor();
  Tensor out = conv(x, w, b);
  expect_values(out, out_shape, expected.out, tol);
  out.backward(mg::tensor(gv, out_shape, dtype));
  expect_values(x.grad(), x_shape, expected.grad_x, tol);
  expect_values(w.grad(), w_shape, expected.grad_w, tol * 10);
  if (bias) expect_values(b.grad(), {r.o}, expected.grad_b, tol * 10);
}

// Runs one case forward and backward in `dtype` against the reference.
void check_case(const Case& c, mg::DType dtype, double tol) {
  SCOPED_TRACE(std::string(c.name) + " " + mg::dtype_name(dtype));
  const RefConfig& r = c.ref;
  check_against_reference(
      r, c.bias, {r.n, r.c, r.h, r.w}, {r.o, r.c / r.groups, r.kh, r.kw},
      {r.n, r.o, r.out_h(), r.out_w()},
      [&c](const Tensor& x, const Tensor& w, const Tensor& b) {
        return mg::conv2d(x, w, b, c.options);
      },
      dtype, tol, 1);
}

}  // namespace

TEST(Conv2d, HandComputedValues) {
  // One 3x3 image, a 2x2 kernel of ones plus a bias: each output is its window's sum + 0.5.
  auto x = mg::tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0}).view({1, 1, 3, 3});
  auto w = mg::ones({1, 1, 2, 2}, mg::kFloat64);
  expect_values(mg::conv2d(x, w, mg::tensor({0.5})), {1, 1, 2, 2}, {12.5, 16.5, 24.5, 28.5});
  // Padding 1, stride 2: windows at the corners see one, two or four pixels.
  expect_values(mg::conv2d(x, w, {}, {.stride = 2, .padding = 1}), {1, 1, 2, 2}, {1, 5, 11, 28});
}

TEST(Conv2d, SamePaddingPutsTheOddElementAfterTheInput) {
  // Kernel [1, 10] along the width: total padding 1, all of it on the right (as PyTorch).
  auto x = mg::tensor({1.0, 2.0, 3.0, 4.0}).view({1, 1, 1, 4});
  auto w = mg::tensor({1.0, 10.0}).view({1, 1, 1, 2});
  expect_values(mg::conv2d(x, w, {}, {.padding = mg::Padding::Same}), {1, 1, 1, 4},
                {21, 32, 43, 4});
  auto x1 = mg::tensor({1.0, 2.0, 3.0, 4.0}).view({1, 1, 4});
  auto w1 = mg::tensor({1.0, 10.0}).view({1, 1, 2});
  expect_values(mg::conv1d(x1, w1, {}, {.padding = mg::Padding::Same}), {1, 1, 4}, {21, 32, 43, 4});
}

TEST(Conv2d, MatchesNestedLoopsFloat64) {
  for (const Case& c : cases()) check_case(c, mg::kFloat64, 1e-10);
}

TEST(Conv2d, MatchesNestedLoopsFloat32) {
  for (const Case& c : cases()) check_case(c, mg::kFloat32, 2e-4);
}

// The one-sample-chunk and Winograd passes split the batch among threads: 1 thread (the serial
// path), and 2, 3 and 5 threads, whose shares of the batch differ in size.
TEST(Conv2d, BatchSplitAtSeveralThreadCounts) {
  const int saved = mg::get_num_threads();
  for (int threads : {1, 2, 3, 5}) {
    mg::set_num_threads(threads);
    SCOPED_TRACE(threads);
    for (const Case& c : cases())
      if (std::string(c.name).starts_with("one-sample") ||
          std::string(c.name).starts_with("winograd"))
        check_case(c, mg::kFloat64, 1e-10);
  }
  mg::set_num_threads(saved);
}

// Which convolutions take the Winograd path: the tile transforms' calls for a forward and
// backward (at 1 thread the batch is one chunk: forward = input + output transform, backward =
// output adjoint + input + input adjoint), and no im2col there.
TEST(Conv2d, WinogradRunsForThreeByThreeStrideOneWithEnoughChannels) {
  struct PathCase {
    const char* name;
    mg::Shape x, w;
    mg::Conv2dOptions options;
    mg::DType dtype;
    int transforms;
  };
  const std::vector<PathCase> path_cases = {
      {"16 -> 16 float32", {2, 16, 8, 8}, {16, 16, 3, 3}, {.padding = 1}, mg::kFloat32, 5},
      {"8 -> 16 float64 unpadded", {2, 8, 8, 8}, {16, 8, 3, 3}, {}, mg::kFloat64, 5},
      {"7 input channels", {2, 7, 8, 8}, {16, 7, 3, 3}, {.padding = 1}, mg::kFloat32, 0},
      {"8 output channels", {2, 16, 8, 8}, {8, 16, 3, 3}, {.padding = 1}, mg::kFloat32, 0},
      {"stride 2", {2, 16, 8, 8}, {16, 16, 3, 3}, {.stride = 2, .padding = 1}, mg::kFloat32, 0},
      {"dilation 2", {2, 16, 8, 8}, {16, 16, 3, 3}, {.padding = 2, .dilation = 2}, mg::kFloat32, 0},
      {"groups 2 of 8 -> 16",
       {2, 16, 8, 8},
       {32, 8, 3, 3},
       {.padding = 1, .groups = 2},
       mg::kFloat32,
       5},
      {"groups 2 of 8 -> 8",
       {2, 16, 8, 8},
       {16, 8, 3, 3},
       {.padding = 1, .groups = 2},
       mg::kFloat32,
       0},
      {"5x5", {2, 16, 8, 8}, {16, 16, 5, 5}, {.padding = 2}, mg::kFloat32, 0},
  };
  const int saved = mg::get_num_threads();
  mg::set_num_threads(1);
  for (const PathCase& c : path_cases) {
    SCOPED_TRACE(c.name);
    mg::Generator gen(3);
    auto x = mg::randn(c.x, c.dtype, &gen).requires_grad_();
    auto w = mg::randn(c.w, c.dtype, &gen).requires_grad_();
    CallCounter<mg::kernels::winograd> winograd;
    CallCounter<mg::kernels::im2col> im2col;
    mg::conv2d(x, w, {}, c.options).sum().backward();
    EXPECT_EQ(winograd.calls(), c.transforms);
    EXPECT_EQ(im2col.calls() == 0, c.transforms > 0);
  }
  mg::set_num_threads(saved);
}

// The Winograd transforms skip their zero coefficients, so a NaN reaches the outputs whose
// windows hold it and no others (tiles are 2 x 2: the NaN's window straddles four of them).
TEST(Conv2d, WinogradNanReachesOnlyItsWindow) {
  std::vector<double> xv(16 * 6 * 7, 0.0);
  xv[(3 * 6 + 2) * 7 + 3] = std::numeric_limits<double>::quiet_NaN();  // channel 3, (2, 3)
  const Tensor x = mg::tensor(xv, mg::Shape{1, 16, 6, 7}, mg::kFloat32);
  CallCounter<mg::kernels::winograd> winograd;  // a batch of 1 runs on the calling thread
  const Tensor y = mg::conv2d(x, mg::ones({16, 16, 3, 3}), {}, {.padding = 1});
  EXPECT_EQ(winograd.calls(), 2);
  const std::vector<float> out = y.to_vector<float>();
  for (int64_t o = 0; o < 16; ++o)
    for (int64_t r = 0; r < 6; ++r)
      for (int64_t c = 0; c < 7; ++c) {
        const bool in_window = std::abs(r - 2) <= 1 && std::abs(c - 3) <= 1;
        const float v = out[(o * 6 + r) * 7 + c];
        EXPECT_EQ(std::isnan(v), in_window) << o << " " << r << " " << c;
        if (!in_window) {
          EXPECT_EQ(v, 0.0f);
        }
      }
}

TEST(Conv2d, NonContiguousOperands) {
  auto xt = grad_input({2, 3, 6, 5}, 5).detach();
  auto x = xt.transpose(2, 3).contiguous().transpose(2, 3);  // same values, strided layout
  auto wt = grad_input({4, 3, 2, 3}, 6).detach();
  auto w = wt.permute({0, 1, 3, 2}).contiguous().permute({0, 1, 3, 2});
  ASSERT_FALSE(x.is_contiguous());
  ASSERT_FALSE(w.is_contiguous());
  expect_close(mg::conv2d(x, w, {}, {.padding = 1}), mg::conv2d(xt, wt, {}, {.padding = 1}), 1e-12,
               0);
}

TEST(Conv2d, EmptyBatch) {
  auto x = mg::zeros({0, 2, 5, 5}, mg::kFloat64).requires_grad_();
  auto w = mg::ones({3, 2, 3, 3}, mg::kFloat64).requires_grad_();
  auto y = mg::conv2d(x, w);
  EXPECT_EQ(y.shape(), (mg::Shape{0, 3, 3, 3}));
  y.sum().backward();
  expect_values(w.grad().sum(), {}, {0});
  EXPECT_EQ(x.grad().shape(), x.shape());
  // The same through Winograd (3x3, 16 channels each side).
  auto x16 = mg::zeros({0, 16, 5, 5}, mg::kFloat64).requires_grad_();
  auto w16 = mg::ones({16, 16, 3, 3}, mg::kFloat64).requires_grad_();
  auto y16 = mg::conv2d(x16, w16, {}, {.padding = 1});
  EXPECT_EQ(y16.shape(), (mg::Shape{0, 16, 5, 5}));
  y16.sum().backward();
  expect_values(w16.grad().abs().sum(), {}, {0});
  EXPECT_EQ(x16.grad().shape(), x16.shape());
}

TEST(Conv1d, MatchesNestedLoops) {
  struct Case1d {
    int64_t n, c, l, o, k;
    mg::Conv1dOptions options;
    int64_t pad_left, pad_right;  // what options amount to
    bool bias;
  };
  const std::vector<Case1d> cases1d = {
      {2, 3, 10, 4, 3, {}, 0, 0, true},
      {3, 4, 11, 6, 3, {.stride = 2, .padding = 2, .dilation = 2, .groups = 2}, 2, 2, false},
      {2, 4, 9, 4, 4, {.padding = mg::Padding::Same, .groups = 4}, 1, 2, true},
      {1, 2, 7, 3, 2, {.padding = mg::Padding::Valid, .dilation = 3}, 0, 0, true},
      {2, 4, 6, 2, 1, {}, 0, 0, false},
      // Long enough for the direct kernels.
      {2, 3, 40, 5, 5, {.padding = 2, .dilation = 2}, 2, 2, true},
  };
  for (mg::DType dtype : {mg::kFloat64, mg::kFloat32}) {
    const double tol = dtype == mg::kFloat64 ? 1e-10 : 2e-4;
    for (const Case1d& c : cases1d) {
      SCOPED_TRACE(::testing::Message() << "case with k=" << c.k << " l=" << c.l);
      RefConfig r{c.n, c.c, 1, c.l, c.o, 1, c.k};
      r.sw = c.options.stride[0];
      r.dw = c.options.dilation[0];
      r.pad_left = c.pad_left;
      r.pad_right = c.pad_right;
      r.groups = c.options.groups;
      check_against_reference(
          r, c.bias, {c.n, c.c, c.l}, {c.o, c.c / r.groups, c.k}, {c.n, c.o, r.out_w()},
          [&c](const Tensor& x, const Tensor& w, const Tensor& b) {
            return mg::conv1d(x, w, b, c.options);
          },
          dtype, tol, 7);
    }
  }
}

TEST(Conv2d, Gradcheck) {
  struct GradCase {
    mg::Shape x, w;
    mg::Conv2dOptions options;
  };
  const std::vector<GradCase> grad_cases = {
      {{2, 3, 5, 6}, {4, 3, 3, 2}, {.stride = 2, .padding = 1}},
      {{1, 4, 6, 6}, {2, 2, 2, 3}, {.padding = {1, 2}, .dilation = 2, .groups = 2}},
      {{2, 2, 4, 5}, {3, 2, 2, 4}, {.padding = mg::Padding::Same}},
      {{2, 3, 5, 5}, {3, 1, 3, 3}, {.stride = {2, 1}, .padding = 1, .groups = 3}},
      {{2, 4, 3, 3}, {6, 2, 1, 1}, {.groups = 2}},
      // Planes of 256 positions: per-sample GEMMs; the 1x1 one reads the input in place.
      {{1, 2, 16, 16}, {2, 2, 3, 3}, {.padding = 1}},
      {{2, 2, 16, 16}, {4, 1, 1, 1}, {.groups = 2}},
      // The direct kernels (few output channels, rows of >= 16 outputs), rows ending mid-vector.
      {{2, 2, 4, 19}, {3, 2, 2, 3}, {.padding = {0, 1}, .dilation = {1, 2}}},
      // Winograd (3x3, stride 1, 16 channels each side), a cropped last tile; and with groups.
      {{1, 16, 5, 4}, {16, 16, 3, 3}, {.padding = 1}},
      {{1, 16, 4, 5}, {32, 8, 3, 3}, {.padding = 1, .groups = 2}},
  };
  uint64_t seed = 20;
  for (const GradCase& c : grad_cases) {
    auto x = grad_input(c.x, seed++), w = grad_input(c.w, seed++);
    auto b = grad_input({c.w[0]}, seed++);
    const mg::Conv2dOptions options = c.options;
    EXPECT_GRADCHECK(
        [options](const Inputs& in) { return mg::conv2d(in[0], in[1], in[2], options); },
        Inputs({x, w, b}));
  }
  // Gradients reach whichever operands want them.
  auto x = grad_input({1, 2, 4, 4}, 40).detach();
  auto w = grad_input({3, 2, 3, 3}, 41);
  EXPECT_GRADCHECK([x](const Inputs& in) { return mg::conv2d(x, in[0]); }, Inputs({w}));
}

TEST(Conv1d, Gradcheck) {
  auto x = grad_input({2, 4, 9}, 50), w = grad_input({6, 2, 3}, 51), b = grad_input({6}, 52);
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return mg::conv1d(in[0], in[1], in[2],
                          {.stride = 2, .padding = 2, .dilation = 2, .groups = 2});
      },
      Inputs({x, w, b}));
  auto w4 = grad_input({3, 4, 4}, 53);
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return mg::conv1d(in[0], in[1], {}, {.padding = mg::Padding::Same}); },
      Inputs({x, w4}));
}

TEST(Conv2d, Errors) {
  const auto x = mg::zeros({2, 4, 6, 6}), w = mg::zeros({6, 4, 3, 3});
  EXPECT_MG_ERROR(mg::conv2d(mg::zeros({6, 6}), w),
                  "expected input [N, C, H, W] (4-D) or unbatched [C, H, W]");
  EXPECT_MG_ERROR(mg::conv2d(x, mg::zeros({6, 4, 3})), "expected weight [O, C / groups, kH, kW]");
  EXPECT_MG_ERROR(mg::conv2d(x, mg::zeros({6, 3, 3, 3})), "has 4 channels but weight of shape");
  EXPECT_MG_ERROR(mg::conv2d(x, mg::zeros({6, 2, 3, 3}), {}, {.groups = 3}),
                  "groups 3 does not divide the 4 input channels");
  EXPECT_MG_ERROR(mg::conv2d(x, mg::zeros({5, 2, 3, 3}), {}, {.groups = 2}),
                  "groups 2 does not divide the 5 output channels");
  EXPECT_MG_ERROR(mg::conv2d(x, w, {}, {.groups = 0}), "groups must be positive");
  EXPECT_MG_ERROR(mg::conv2d(x, w, {}, {.stride = {1, 0}}), "stride must be positive, got 0");
  EXPECT_MG_ERROR(mg::conv2d(x, w, {}, {.dilation = -1}), "dilation must be positive, got -1");
  EXPECT_MG_ERROR(mg::conv2d(x, w, {}, {.padding = {0, -2}}),
                  "padding must be non-negative, got -2 (width)");
  EXPECT_MG_ERROR(mg::conv2d(x, mg::zeros({6, 4, 7, 3})),
                  "kernel of size 7 with dilation 1 spans 7 but the padded input has size 6");
  EXPECT_MG_ERROR(mg::conv2d(x, w, {}, {.dilation = 4}), "spans 9 but the padded input has size 6");
  EXPECT_MG_ERROR(mg::conv2d(x, w, {}, {.stride = 2, .padding = mg::Padding::Same}),
                  "padding Same needs stride 1");
  EXPECT_MG_ERROR(mg::conv2d(x, mg::zeros({6, 4, 3, 3}, mg::kFloat64)), "but weight is");
  EXPECT_MG_ERROR(mg::conv2d(x, w, mg::zeros({6}, mg::kFloat64)), "but bias is");
  EXPECT_MG_ERROR(mg::conv2d(x, w, mg::zeros({5})), "bias of shape [5] does not match weight");
  EXPECT_MG_ERROR(mg::conv2d(x, w, mg::zeros({1, 6})), "bias of shape [1, 6]");
  EXPECT_MG_ERROR(
      mg::conv2d(mg::zeros({2, 4, 6, 6}, mg::kInt64), mg::zeros({6, 4, 3, 3}, mg::kInt64)),
      "expected a floating input");
  EXPECT_MG_ERROR(mg::conv2d(x, mg::zeros({6, 4, 0, 3})), "has an empty kernel");
  EXPECT_MG_ERROR(mg::conv2d(Tensor(), w), "must be defined");
}

TEST(Conv1d, Errors) {
  const auto x = mg::zeros({2, 4, 6}), w = mg::zeros({6, 4, 3});
  EXPECT_MG_ERROR(mg::conv1d(mg::zeros({2, 4, 6, 1}), w), "conv1d: expected input [N, C, L]");
  EXPECT_MG_ERROR(mg::conv1d(x, mg::zeros({6, 4, 3, 1})), "expected weight [O, C / groups, K]");
  EXPECT_MG_ERROR(mg::conv1d(x, mg::zeros({6, 2, 3})), "has 4 channels");
  EXPECT_MG_ERROR(mg::conv1d(x, w, {}, {.stride = 0}), "stride must be positive, got 0 (length)");
  EXPECT_MG_ERROR(mg::conv1d(x, w, {}, {.padding = -1}), "padding must be non-negative");
  EXPECT_MG_ERROR(mg::conv1d(x, mg::zeros({6, 4, 8})), "spans 8 but the padded input has size 6");
  EXPECT_MG_ERROR(mg::conv1d(x, w, {}, {.stride = 3, .padding = mg::Padding::Same}),
                  "padding Same needs stride 1");
  EXPECT_MG_ERROR(mg::conv1d(x, w, mg::zeros({4})), "bias of shape [4]");
}
