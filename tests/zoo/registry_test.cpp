// The zoo's registry: names, defaults and the settings every model refuses.
#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "zoo/zoo.h"

namespace mg = mixgrad;
using mg::zoo::find_model;
using mg::zoo::resolve;

TEST(ZooRegistry, NamesAreUniqueAndEveryEntryIsComplete) {
  std::set<std::string> names;
  for (const mg::zoo::ModelEntry& e : mg::zoo::models()) {
    EXPECT_TRUE(names.insert(e.name).second) << e.name;
    EXPECT_FALSE(e.description.empty()) << e.name;
    EXPECT_FALSE(e.metric.name.empty()) << e.name;
    EXPECT_GT(e.defaults.epochs, 0) << e.name;
    EXPECT_GT(e.defaults.batch, 0) << e.name;
    EXPECT_GT(e.defaults.lr, 0) << e.name;
    if (e.routed) {
      EXPECT_GT(e.defaults.experts, 0) << e.name;
      EXPECT_GE(e.defaults.top_k, 1) << e.name;
    }
    EXPECT_TRUE(e.make) << e.name;
  }
  EXPECT_TRUE(names.count("fashion-moe"));
  EXPECT_TRUE(names.count("fashion-mlp"));
}

TEST(ZooRegistry, UnknownModelListsTheKnownOnes) {
  try {
    find_model("fashion-mo");
    FAIL() << "no error";
  } catch (const mg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown model 'fashion-mo'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("fashion-moe"), std::string::npos);
  }
}

TEST(ZooRegistry, ResolveFillsDefaultsAndKeepsWhatTheUserSet) {
  const auto& e = find_model("fashion-moe");
  const mg::zoo::Settings s = resolve(e, {.epochs = 3, .experts = 4});
  EXPECT_EQ(s.epochs, 3);
  EXPECT_EQ(s.experts, 4);
  EXPECT_EQ(s.batch, e.defaults.batch);
  EXPECT_EQ(s.top_k, e.defaults.top_k);
  EXPECT_DOUBLE_EQ(s.lr, e.defaults.lr);
}

TEST(ZooRegistry, ResolveRefusesImpossibleSettings) {
  const auto& moe = find_model("fashion-moe");
  EXPECT_THROW(resolve(moe, {.experts = 2, .top_k = 3}), mg::Error);
  EXPECT_THROW(resolve(moe, {.top_k = 9}), mg::Error);  // 8 experts by default
  EXPECT_THROW(resolve(moe, {.epochs = -1}), mg::Error);
  EXPECT_THROW(resolve(moe, {.batch = -5}), mg::Error);
  EXPECT_THROW(resolve(moe, {.lr = -1e-3}), mg::Error);
  EXPECT_THROW(resolve(find_model("fashion-mlp"), {.experts = 4}), mg::Error);
}

TEST(ZooRegistry, MoEModelsCountFewerActiveThanTotalParameters) {
  for (const mg::zoo::ModelEntry& e : mg::zoo::models()) {
    auto task = e.make(resolve(e, {}));
    const int64_t total = task->module().num_parameters();
    EXPECT_GT(total, 0) << e.name;
    if (e.routed) {
      EXPECT_LT(task->active_parameters(), total) << e.name;
    } else {
      EXPECT_EQ(task->active_parameters(), total) << e.name;
    }
  }
}
