#include "core/deterministic.h"

#include "common/test_util.h"

namespace mg = mixgrad;

TEST(Deterministic, OffByDefault) {
  EXPECT_FALSE(mg::deterministic_algorithms());
}

TEST(Deterministic, SetAndGet) {
  mg::set_deterministic_algorithms(true);
  EXPECT_TRUE(mg::deterministic_algorithms());
  mg::set_deterministic_algorithms(false);
  EXPECT_FALSE(mg::deterministic_algorithms());
}

TEST(Deterministic, GuardRestoresThePreviousValue) {
  {
    mg::DeterministicGuard on;
    EXPECT_TRUE(mg::deterministic_algorithms());
    {
      mg::DeterministicGuard off(false);
      EXPECT_FALSE(mg::deterministic_algorithms());
    }
    EXPECT_TRUE(mg::deterministic_algorithms());
  }
  EXPECT_FALSE(mg::deterministic_algorithms());
}
