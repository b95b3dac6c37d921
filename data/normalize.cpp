#include "data/normalize.h"

#include "core/grad_mode.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"

namespace mixgrad::data {

namespace {

void check_applicable(const char* op, const Tensor& x, const FeatureStats& stats) {
  MG_CHECK(stats.mean.defined() && stats.std.defined(), op, "the statistics are undefined");
  MG_CHECK(stats.mean.dim() == 1 && stats.std.shape() == stats.mean.shape(), op,
           "mean and std must both be [F], got ", stats.mean.shape(), " and ", stats.std.shape());
  MG_CHECK(x.defined(), op, "got an undefined tensor");
  MG_CHECK(x.is_floating_point(), op, "expected a floating tensor, got ", describe(x));
  MG_CHECK(x.dim() >= 1 && x.size(-1) == stats.mean.size(0), op, "tensor of shape ", x.shape(),
           " does not end in the ", stats.mean.size(0), " features of the statistics");
}

}  // namespace

FeatureStats compute_feature_stats(const Tensor& x) {
  const char* op = "compute_feature_stats";
  MG_CHECK(x.defined(), op, "got an undefined tensor");
  MG_CHECK(x.is_floating_point(), op, "expected a floating tensor, got ", describe(x));
  MG_CHECK(x.dim() == 2, op, "expected [N, F] data, got shape ", x.shape());
  MG_CHECK(x.size(0) >= 1, op, "expected at least one row, got shape ", x.shape());
  NoGradGuard no_grad;
  Tensor mean = mixgrad::mean(x, {0});
  Tensor stdev = sqrt(var(x, {0}, /*correction=*/0));
  // Exact test for constant columns: rounding can leave a tiny non-zero std for them, which
  // would blow the feature up instead of zeroing it.
  Tensor constant = eq(amax(x, {0}), amin(x, {0}));
  return {mean, where(constant, ones_like(stdev), stdev)};
}

Tensor normalize(const Tensor& x, const FeatureStats& stats) {
  check_applicable("normalize", x, stats);
  return (x - stats.mean) / stats.std;
}

Tensor denormalize(const Tensor& y, const FeatureStats& stats) {
  check_applicable("denormalize", y, stats);
  return y * stats.std + stats.mean;
}

}  // namespace mixgrad::data
