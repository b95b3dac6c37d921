#include "train/metrics.h"

#include <cmath>

#include "common/test_util.h"

using mixgrad::train::RunningMean;

TEST(RunningMean, WeightedMeanOfAddedValues) {
  RunningMean mean;
  EXPECT_TRUE(mean.empty());
  EXPECT_TRUE(std::isnan(mean.mean()));
  mean.add(2.0);
  EXPECT_EQ(mean.mean(), 2.0);
  mean.add(5.0, 3.0);  // (2 + 15) / 4
  EXPECT_EQ(mean.mean(), 4.25);
  EXPECT_EQ(mean.total_weight(), 4.0);
  mean.add(100.0, 0.0);  // no weight, no effect
  EXPECT_EQ(mean.mean(), 4.25);
  EXPECT_EQ(mean.total_weight(), 4.0);
  EXPECT_FALSE(mean.empty());
  mean.reset();
  EXPECT_TRUE(mean.empty());
  EXPECT_TRUE(std::isnan(mean.mean()));
  mean.add(-1.0, 0.5);
  EXPECT_EQ(mean.mean(), -1.0);
}

TEST(RunningMean, BadWeightsThrowAndLeaveTheMeanUnchanged) {
  RunningMean mean;
  mean.add(1.0, 2.0);
  EXPECT_MG_ERROR(mean.add(3.0, -1.0), "RunningMean::add: weight must be finite and >= 0");
  EXPECT_MG_ERROR(mean.add(3.0, NAN), "weight must be finite");
  EXPECT_MG_ERROR(mean.add(3.0, INFINITY), "weight must be finite");
  EXPECT_EQ(mean.mean(), 1.0);
  EXPECT_EQ(mean.total_weight(), 2.0);
}

TEST(RunningMean, ANanValueMakesTheMeanNan) {
  RunningMean mean;
  mean.add(1.0);
  mean.add(NAN);
  EXPECT_TRUE(std::isnan(mean.mean()));
}
