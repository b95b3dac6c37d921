// PyTorch behaviours that mixgrad's ops and Tensor methods follow (issue 19's compatibility
// list): tensor clamp bounds, masked_fill with a tensor value and a broadcasting mask, class
// weights and class-probability targets in the classification losses, unbatched inputs,
// batch_norm's momentum in evaluation, single-dim reductions on Tensor, and printing of dtypes
// and devices. Expected values are computed independently, element by element.
#include <cmath>
#include <sstream>

#include "common/test_util.h"

namespace mg = mixgrad;
using mg::Reduction;
using mg::Tensor;
using Inputs = std::vector<Tensor>;
using mg::testing::expect_close;
using mg::testing::expect_values;
using mg::testing::grad_input;

namespace {

// Rows of a [N, C] tensor as vectors.
std::vector<std::vector<double>> rows(const Tensor& t) {
  const std::vector<double> flat = t.to_vector<double>();
  const int64_t n = t.size(0), c = t.size(1);
  std::vector<std::vector<double>> out(n, std::vector<double>(c));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j) out[i][j] = flat[i * c + j];
  return out;
}

std::vector<double> log_softmax_row(const std::vector<double>& x) {
  double m = x[0];
  for (double v : x) m = std::max(m, v);
  double s = 0;
  for (double v : x) s += std::exp(v - m);
  std::vector<double> out;
  for (double v : x) out.push_back(v - m - std::log(s));
  return out;
}

}  // namespace

// ---- clamp with tensor bounds ----

TEST(ClampTensorBounds, ValuesBroadcastAndMinAboveMax) {
  const Tensor x = mg::tensor({{-3.0, 0.5, 4.0}, {1.0, 2.0, 9.0}});
  const Tensor lo = mg::tensor({0.0, 1.0, 5.0});  // broadcast over rows
  const Tensor hi = mg::tensor({{2.0}, {1.5}});   // broadcast over columns
  // Row 1, column 2: min 5 > max 1.5, so the result is max (as PyTorch).
  expect_values(mg::clamp(x, lo, hi), {2, 3}, {0.0, 1.0, 2.0, 1.0, 1.5, 1.5});
  expect_values(x.clamp(lo, Tensor()), {2, 3}, {0.0, 1.0, 5.0, 1.0, 2.0, 9.0});
  expect_values(mg::clamp(x, Tensor(), hi), {2, 3}, {-3.0, 0.5, 2.0, 1.0, 1.5, 1.5});
  // The result takes the broadcast shape of all three.
  EXPECT_EQ(mg::clamp(mg::zeros({3}), mg::zeros({2, 1}), Tensor()).shape(), (mg::Shape{2, 3}));
  // A NaN bound gives NaN (as PyTorch); a NaN input stays NaN.
  const double nan = std::nan("");
  expect_values(mg::clamp(mg::tensor({1.0, 2.0, nan}), mg::tensor({nan, 0.0, 0.0}), Tensor()), {3},
                {nan, 2.0, nan});
  expect_values(mg::clamp(mg::tensor({1.0, 2.0}), Tensor(), mg::tensor({1.5, nan})), {2},
                {1.0, nan});
  // Integer input, floating bounds: promoted as PyTorch.
  EXPECT_EQ(mg::clamp(mg::tensor({1, 5}), mg::tensor({2.5f}), Tensor()).dtype(), mg::kFloat32);
}

TEST(ClampTensorBounds, GradientsReachInputAndBothBounds) {
  // Values kept apart from the bounds, so that finite differences do not cross a kink.
  const Tensor x = mg::tensor({-2.0, 0.3, 0.6, 3.0, -0.9, 1.7}).requires_grad_();
  const Tensor lo = mg::tensor({-1.0, 0.0, 0.1, 0.2, -0.5, 0.0}).requires_grad_();
  const Tensor hi = mg::tensor({1.0, 0.9, 0.4, 2.0, 0.5, 1.0}).requires_grad_();
  EXPECT_GRADCHECK([](const Inputs& in) { return mg::clamp(in[0], in[1], in[2]); },
                   (Inputs{x, lo, hi}));
  mg::clamp(x, lo, hi).sum().backward();
  expect_values(x.grad(), {6}, {0, 1, 0, 0, 0, 0});  // only 0.3 lies inside its bounds
  expect_values(lo.grad(), {6}, {1, 0, 0, 0, 1, 0});
  expect_values(hi.grad(), {6}, {0, 0, 1, 1, 0, 1});
}

TEST(ClampTensorBounds, Errors) {
  EXPECT_MG_ERROR(mg::clamp(mg::ones({2}), Tensor(), Tensor()), "at least one of min and max");
  EXPECT_MG_ERROR(mg::clamp(mg::ones({2}), mg::ones({3}), Tensor()), "broadcast");
}

// ---- masked_fill ----

TEST(MaskedFill, TensorValueTakesAGradient) {
  const Tensor x = grad_input({2, 3}, 4);
  const Tensor value = mg::tensor({0.7}).reshape({}).requires_grad_();
  const Tensor mask = mg::tensor({true, false, true});
  const Tensor y = mg::masked_fill(x, mask, value);
  std::vector<double> expected = x.to_vector<double>();
  for (int i : {0, 2, 3, 5}) expected[i] = 0.7;
  expect_values(y, {2, 3}, expected);
  (y * mg::tensor({1.0, 2.0, 3.0})).sum().backward();
  expect_values(value.grad(), {}, {1 + 3 + 1 + 3});
  expect_values(x.grad(), {2, 3}, {0, 2, 0, 0, 2, 0});
  EXPECT_GRADCHECK([&](const Inputs& in) { return mg::masked_fill(in[0], mask, in[1]); },
                   (Inputs{grad_input({2, 3}, 5), grad_input({}, 6)}));
  // The value is converted to x's dtype.
  EXPECT_EQ(mg::masked_fill(mg::ones({2}), mg::tensor({true, false}), mg::tensor({2.0}).reshape({}))
                .dtype(),
            mg::kFloat32);
  EXPECT_MG_ERROR(mg::masked_fill(x, mask, mg::tensor({1.0, 2.0})), "0-dim");
}

TEST(MaskedFill, MaskBroadcastingBeyondTheInputGivesTheBroadcastShape) {
  const Tensor x = mg::tensor({1.0, 2.0, 3.0}).requires_grad_();
  const Tensor mask = mg::tensor({{true, false, false}, {false, false, true}});
  const Tensor y = mg::masked_fill(x, mask, 0.0);
  expect_values(y, {2, 3}, {0, 2, 3, 1, 2, 0});
  y.sum().backward();
  expect_values(x.grad(), {3}, {1, 2, 1});  // summed back over the broadcast rows
  EXPECT_EQ(x.masked_fill(mask, mg::tensor({5.0}).reshape({})).shape(), (mg::Shape{2, 3}));
  // In place the result keeps x's shape, so the mask may not enlarge it.
  Tensor z = mg::tensor({1.0, 2.0, 3.0});
  EXPECT_MG_ERROR(mg::masked_fill_(z, mask, 0.0), "does not broadcast to the tensor's shape");
}

// ---- class weights and class probabilities in the classification losses ----

TEST(ClassWeights, NllLossEveryReduction) {
  const Tensor logp = mg::log_softmax(
      mg::tensor({{1.0, 2.0, 0.5}, {0.1, -1.0, 2.0}, {0.3, 0.3, 0.3}, {2.0, 1.0, 0.0}}), 1);
  const Tensor target = mg::tensor(std::vector<int64_t>{1, 2, -100, 0});  // the third is ignored
  const Tensor w = mg::tensor({0.5, 2.0, 3.0});
  const auto lp = rows(logp);
  const std::vector<double> none = {-2.0 * lp[0][1], -3.0 * lp[1][2], 0.0, -0.5 * lp[3][0]};
  expect_values(mg::nll_loss(logp, target, Reduction::None, -100, w), {4}, none, 1e-12);
  const double total = none[0] + none[1] + none[3];
  expect_values(mg::nll_loss(logp, target, Reduction::Sum, -100, w), {}, {total}, 1e-12);
  // Mean divides by the weights of the counted targets, as PyTorch.
  expect_values(mg::nll_loss(logp, target, Reduction::Mean, -100, w), {},
                {total / (2.0 + 3.0 + 0.5)}, 1e-12);
}

TEST(ClassWeights, CrossEntropyWithLabelSmoothingAndGradients) {
  const Tensor logits = grad_input({4, 3}, 11);
  const Tensor target = mg::tensor(std::vector<int64_t>{2, 0, 1, 2});
  const Tensor w = mg::tensor({1.5, 0.25, 1.0});
  const double eps = 0.2;
  const auto lp = [&] {
    std::vector<std::vector<double>> r;
    for (const auto& row : rows(logits)) r.push_back(log_softmax_row(row));
    return r;
  }();
  const std::vector<double> wv = {1.5, 0.25, 1.0};
  const std::vector<int> t = {2, 0, 1, 2};
  double sum = 0, weight_sum = 0;
  std::vector<double> none;
  for (int n = 0; n < 4; ++n) {
    double smooth = 0;
    for (int c = 0; c < 3; ++c) smooth -= wv[c] * lp[n][c] / 3.0;
    none.push_back((1 - eps) * -wv[t[n]] * lp[n][t[n]] + eps * smooth);
    sum += none.back();
    weight_sum += wv[t[n]];
  }
  expect_values(mg::cross_entropy(logits, target, Reduction::None, eps, -100, w), {4}, none, 1e-12);
  expect_values(mg::cross_entropy(logits, target, Reduction::Sum, eps, -100, w), {}, {sum}, 1e-12);
  expect_values(mg::cross_entropy(logits, target, Reduction::Mean, eps, -100, w), {},
                {sum / weight_sum}, 1e-12);
  for (Reduction r : {Reduction::None, Reduction::Sum, Reduction::Mean})
    EXPECT_GRADCHECK(
        [&](const Inputs& in) { return mg::cross_entropy(in[0], target, r, eps, -100, in[1]); },
        (Inputs{grad_input({4, 3}, 12), mg::tensor({1.5, 0.25, 1.0}).requires_grad_()}));
}

TEST(ClassWeights, Errors) {
  const Tensor logits = mg::zeros({2, 3});
  const Tensor target = mg::tensor(std::vector<int64_t>{0, 1});
  EXPECT_MG_ERROR(mg::cross_entropy(logits, target, Reduction::Mean, 0, -100, mg::ones({2})),
                  "one value per class (shape [3])");
  EXPECT_MG_ERROR(mg::nll_loss(logits, target, Reduction::Mean, -100, mg::ones({3}, mg::kFloat64)),
                  "weight is");
  EXPECT_MG_ERROR(mg::nll_loss(logits, mg::tensor(std::vector<int64_t>{0, 7}), Reduction::Mean,
                               -100, mg::ones({3})),
                  "invalid class index");
}

TEST(ClassProbabilities, CrossEntropyAgainstSoftTargets) {
  const Tensor logits = grad_input({3, 4}, 21);
  const Tensor probs = mg::softmax(grad_input({3, 4}, 22), 1).detach();
  const auto lp = [&] {
    std::vector<std::vector<double>> r;
    for (const auto& row : rows(logits)) r.push_back(log_softmax_row(row));
    return r;
  }();
  const auto p = rows(probs);
  const std::vector<double> w = {1.0, 2.0, 0.5, 1.5};
  const double eps = 0.1;
  std::vector<double> none;
  double sum = 0;
  for (int n = 0; n < 3; ++n) {
    double l = 0;
    for (int c = 0; c < 4; ++c) l -= w[c] * (p[n][c] * (1 - eps) + eps / 4) * lp[n][c];
    none.push_back(l);
    sum += l;
  }
  const Tensor wt = mg::tensor(w);
  expect_values(mg::cross_entropy(logits, probs, Reduction::None, eps, -1, wt), {3}, none, 1e-12);
  expect_values(mg::cross_entropy(logits, probs, Reduction::Sum, eps, -1, wt), {}, {sum}, 1e-12);
  // Mean divides by the number of samples, not by the weights (as PyTorch).
  expect_values(mg::cross_entropy(logits, probs, Reduction::Mean, eps, -1, wt), {}, {sum / 3},
                1e-12);
  // One-hot probabilities give the class-index loss.
  const Tensor idx = mg::tensor(std::vector<int64_t>{3, 0, 2});
  expect_close(
      mg::cross_entropy(logits, mg::one_hot(idx, 4).to(mg::kFloat64), Reduction::Mean, 0, -1),
      mg::cross_entropy(logits, idx), 1e-12);
  // Differentiable in the logits and in the target; spatial dims [N, C, d] too.
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return mg::cross_entropy(in[0], in[1], Reduction::Mean, 0.05, -1); },
      (Inputs{grad_input({2, 3, 4}, 23), grad_input({2, 3, 4}, 24)}));
}

TEST(ClassProbabilities, Errors) {
  const Tensor logits = mg::zeros({2, 3});
  EXPECT_MG_ERROR(mg::cross_entropy(logits, mg::zeros({2, 4})),
                  "must have the input's shape [2, 3]");
  EXPECT_MG_ERROR(mg::cross_entropy(logits, mg::zeros({2, 3}), Reduction::Mean, 0, 0),
                  "ignore_index (0) applies to class-index targets only");
  EXPECT_MG_ERROR(mg::cross_entropy(logits, mg::zeros({2, 3}, mg::kFloat64)), "target is");
}

// ---- unbatched inputs ----

TEST(Unbatched, ClassificationLossesTakeOneSample) {
  const Tensor logits = grad_input({5}, 31);
  const Tensor target = mg::tensor({int64_t{3}}).reshape({});
  const Tensor batched =
      mg::cross_entropy(logits.unsqueeze(0), target.reshape({1}), Reduction::None);
  const Tensor one = mg::cross_entropy(logits, target, Reduction::None);
  EXPECT_EQ(one.dim(), 0);
  expect_close(one, batched.reshape({}), 1e-12);
  expect_close(mg::nll_loss(mg::log_softmax(logits, 0), target), one, 1e-12);
  EXPECT_GRADCHECK([&](const Inputs& in) { return mg::cross_entropy(in[0], target); },
                   (Inputs{grad_input({5}, 32)}));
  // Class probabilities of an unbatched sample, with weights.
  const Tensor probs = mg::softmax(grad_input({5}, 33), 0).detach();
  const Tensor w = mg::tensor({1.0, 2.0, 0.5, 1.0, 3.0});
  expect_close(
      mg::cross_entropy(logits, probs, Reduction::Mean, 0, -1, w),
      mg::cross_entropy(logits.unsqueeze(0), probs.unsqueeze(0), Reduction::Mean, 0, -1, w), 1e-12);
  EXPECT_MG_ERROR(mg::nll_loss(logits, mg::tensor({int64_t{1}})), "expected []");
}

TEST(Unbatched, ConvolutionsTakeOneSample) {
  const Tensor x2 = grad_input({3, 6, 5}, 41), w2 = grad_input({4, 3, 3, 3}, 42);
  const Tensor b = grad_input({4}, 43);
  const mg::Conv2dOptions o2{.stride = {1, 2}, .padding = 1};
  const Tensor y2 = mg::conv2d(x2, w2, b, o2);
  EXPECT_EQ(y2.shape(), (mg::Shape{4, 6, 3}));
  expect_close(y2, mg::conv2d(x2.unsqueeze(0), w2, b, o2).squeeze(0), 1e-12);
  const Tensor x1 = grad_input({3, 9}, 44), w1 = grad_input({2, 3, 4}, 45);
  const Tensor y1 = mg::conv1d(x1, w1);
  EXPECT_EQ(y1.shape(), (mg::Shape{2, 6}));
  expect_close(y1, mg::conv1d(x1.unsqueeze(0), w1).squeeze(0), 1e-12);
  EXPECT_GRADCHECK([](const Inputs& in) { return mg::conv1d(in[0], in[1]); },
                   (Inputs{grad_input({2, 5}, 46), grad_input({3, 2, 2}, 47)}));
  EXPECT_MG_ERROR(mg::conv2d(mg::ones({6, 5}), mg::ones({4, 3, 3, 3})), "unbatched [C, H, W]");
}

// ---- batch_norm's momentum ----

TEST(BatchNormMomentum, EvaluationIgnoresIt) {
  const Tensor x = grad_input({4, 2}, 51).detach();
  const Tensor mean = mg::tensor({0.5, -0.5}), var = mg::tensor({2.0, 0.5});
  const Tensor y = mg::batch_norm(x, mean, var, Tensor(), Tensor(), /*training=*/false,
                                  /*momentum=*/5.0);
  expect_close(y, (x - mean) / mg::sqrt(var + 1e-5), 1e-12);
  EXPECT_MG_ERROR(mg::batch_norm(x, mean.clone(), var.clone(), Tensor(), Tensor(), true, 5.0),
                  "momentum must be in [0, 1]");
}

// ---- single-dim reductions on Tensor ----

TEST(TensorReductions, OneDimOverloads) {
  const Tensor x = mg::tensor({{1.0, 5.0, 3.0}, {4.0, 2.0, 6.0}});
  expect_values(x.sum(1), {2}, {9, 12});
  expect_values(x.sum(0, true), {1, 3}, {5, 7, 9});
  expect_values(x.mean(-1), {2}, {3, 4});
  expect_values(x.amax(0), {3}, {4, 5, 6});
  expect_values(x.amin(1, true), {2, 1}, {1, 2});
  const auto [values, indices] = x.max(1);
  expect_values(values, {2}, {5, 6});
  expect_values(indices, {2}, {1, 2});
  expect_values(x.min(0).indices, {3}, {0, 1, 0});
  // A braced list still names dims, and {} still means every dim.
  expect_values(x.sum({0, 1}), {}, {21});
  expect_values(x.sum({}), {}, {21});
  expect_values(x.mean({}), {}, {3.5});
  EXPECT_MG_ERROR(x.sum(2), "out of range");
}

// ---- printing ----

TEST(Printing, DTypesAndDevicesStream) {
  std::ostringstream os;
  os << mg::kFloat32 << ' ' << mg::kInt64 << ' ' << mg::Device::cpu() << ' ' << mg::Device::cuda(1);
  EXPECT_EQ(os.str(), "float32 int64 cpu cuda:1");
}
