#include "common/test_util.h"

namespace mg = mixgrad;

TEST(Shape, BroadcastShapes) {
  EXPECT_EQ(mg::broadcast_shapes({2, 1, 3}, {4, 1}, "t"), (mg::Shape{2, 4, 3}));
  EXPECT_EQ(mg::broadcast_shapes({}, {3}, "t"), (mg::Shape{3}));
  EXPECT_EQ(mg::broadcast_shapes({0, 1}, {1, 5}, "t"), (mg::Shape{0, 5}));
  EXPECT_MG_ERROR(mg::broadcast_shapes({2, 3}, {4}, "myop"),
                  "myop: shapes [2, 3] and [4] cannot be broadcast");
}

TEST(Shape, WrapDimAndStrides) {
  EXPECT_EQ(mg::wrap_dim(-1, 3, "t"), 2);
  EXPECT_EQ(mg::wrap_dim(0, 0, "t"), 0);
  EXPECT_MG_ERROR(mg::wrap_dim(3, 3, "op"), "dim 3 out of range");
  EXPECT_EQ(mg::contiguous_strides({2, 3, 4}), (mg::Shape{12, 4, 1}));
  EXPECT_TRUE(mg::is_contiguous_layout({2, 1, 3}, {3, 99, 1}));
  EXPECT_FALSE(mg::is_contiguous_layout({2, 3}, {1, 2}));
  EXPECT_EQ(mg::infer_size({-1, 4}, 12, "t"), (mg::Shape{3, 4}));
}
