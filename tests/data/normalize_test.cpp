#include "data/normalize.h"

#include <cmath>

#include "common/test_util.h"

namespace mg = mixgrad;
using mg::data::compute_feature_stats;
using mg::testing::expect_close;
using mg::testing::expect_values;

TEST(FeatureStats, PopulationStdAndConstantFeaturesGetOne) {
  // Column 0 varies; columns 1 and 2 are constant (column 2 at a value whose mean rounds).
  const auto x = mg::tensor({{1.0, 10.0, 0.1}, {3.0, 10.0, 0.1}, {5.0, 10.0, 0.1}});
  const auto stats = compute_feature_stats(x);
  expect_values(stats.mean, {3}, {3.0, 10.0, 0.1}, 1e-15);
  expect_values(stats.std, {3}, {std::sqrt(8.0 / 3.0), 1.0, 1.0}, 1e-15);
  EXPECT_EQ(stats.std.to_vector<double>()[2], 1.0);  // exactly 1, not a rounding residue
  // Normalised data: column 0 standardised, constant columns 0 (not NaN).
  const double s = std::sqrt(8.0 / 3.0);
  expect_values(mg::data::normalize(x, stats), {3, 3}, {-2 / s, 0, 0, 0, 0, 0, 2 / s, 0, 0}, 1e-12);
  expect_close(mg::data::denormalize(mg::data::normalize(x, stats), stats), x, 1e-12);
  // A single row: every feature is constant.
  expect_values(compute_feature_stats(mg::tensor({{2.0f, -1.0f}})).std, {2}, {1, 1});
}

TEST(FeatureStats, NormalizeAppliesToLeadingDimsAndIsDifferentiable) {
  const auto stats = compute_feature_stats(mg::tensor({{0.0, 2.0}, {2.0, 6.0}}));  // std 1, 2
  EXPECT_FALSE(stats.mean.requires_grad());
  auto y = mg::tensor(std::vector<double>{1, 4, 3, 8}, mg::Shape{2, 1, 2}).requires_grad_();
  const auto z = mg::data::normalize(y, stats);
  expect_values(z, {2, 1, 2}, {0, 0, 2, 2});
  z.sum().backward();
  expect_values(y.grad(), {2, 1, 2}, {1, 0.5, 1, 0.5});
  expect_values(mg::data::denormalize(mg::tensor({{1.0, -1.0}}), stats), {1, 2}, {2, 2});
}

TEST(FeatureStats, ShapeAndDtypeErrors) {
  EXPECT_MG_ERROR(compute_feature_stats(mg::zeros({4})), "expected [N, F] data, got shape [4]");
  EXPECT_MG_ERROR(compute_feature_stats(mg::zeros({0, 3})), "expected at least one row");
  EXPECT_MG_ERROR(compute_feature_stats(mg::tensor({{1, 2}})), "expected a floating tensor");
  const auto stats = compute_feature_stats(mg::ones({2, 3}));
  EXPECT_MG_ERROR(mg::data::normalize(mg::zeros({2, 4}), stats),
                  "tensor of shape [2, 4] does not end in the 3 features");
  EXPECT_MG_ERROR(mg::data::denormalize(mg::zeros({3, 2}), stats), "denormalize");
  EXPECT_MG_ERROR(mg::data::normalize(mg::zeros({2, 3}), mg::data::FeatureStats{}),
                  "the statistics are undefined");
  EXPECT_MG_ERROR(mg::data::normalize(mg::zeros({2, 3}), {mg::zeros({3}), mg::ones({2})}),
                  "mean and std must both be [F]");
}
