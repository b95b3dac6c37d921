#include <sstream>
#include <vector>

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

// Shape behaves as the std::vector<int64_t> it replaced, below and above its inline capacity.
TEST(Shape, BehavesAsAVectorInlineAndOnTheHeap) {
  for (std::size_t n : {std::size_t{0}, std::size_t{3}, mg::Shape::kInline, mg::Shape::kInline + 5,
                        std::size_t{40}}) {
    std::vector<int64_t> expected;
    mg::Shape s;
    for (std::size_t i = 0; i < n; ++i) {
      expected.push_back(static_cast<int64_t>(i * 7 + 1));
      s.push_back(static_cast<int64_t>(i * 7 + 1));
    }
    ASSERT_EQ(std::vector<int64_t>(s), expected) << n;
    EXPECT_EQ(s.size(), n);
    EXPECT_GE(s.capacity(), std::max(n, mg::Shape::kInline));

    // Copies and moves are independent of their source.
    mg::Shape copy = s;
    mg::Shape moved = std::move(copy);
    EXPECT_TRUE(copy.empty());  // NOLINT(bugprone-use-after-move): a moved-from Shape is empty
    EXPECT_EQ(moved, s);
    if (n > 0) {
      moved[0] = -5;
      EXPECT_EQ(s[0], 1);
    }
    mg::Shape assigned{9, 9};
    assigned = s;
    EXPECT_EQ(assigned, s);
    assigned = std::move(moved);
    EXPECT_EQ(assigned.size(), n);

    // insert and erase at the front, the middle and the end, as std::vector does.
    for (std::size_t at : {std::size_t{0}, n / 2, n}) {
      mg::Shape t = s;
      std::vector<int64_t> v = expected;
      t.insert(t.begin() + at, 2, int64_t{-1});
      v.insert(v.begin() + at, 2, int64_t{-1});
      t.insert(t.begin() + at, {7, 8, 9});
      v.insert(v.begin() + at, {7, 8, 9});
      EXPECT_EQ(std::vector<int64_t>(t), v) << n << " " << at;
      t.erase(t.begin() + at, t.begin() + at + 4);
      v.erase(v.begin() + at, v.begin() + at + 4);
      t.erase(t.begin() + at);
      v.erase(v.begin() + at);
      EXPECT_EQ(std::vector<int64_t>(t), v) << n << " " << at;
    }
  }
}

TEST(Shape, InsertsARangeOfItself) {
  mg::Shape s{1, 2, 3, 4, 5};
  s.insert(s.begin() + 1, s.begin(), s.end());  // grows past the inline capacity while copying
  EXPECT_EQ(s, (mg::Shape{1, 1, 2, 3, 4, 5, 2, 3, 4, 5}));
}

TEST(Shape, ConstructsComparesAndPrintsAsAVector) {
  EXPECT_EQ(mg::Shape(3), (mg::Shape{0, 0, 0}));  // n zeros, as std::vector(n)
  EXPECT_EQ(mg::Shape(2, 7), (mg::Shape{7, 7}));
  EXPECT_EQ(mg::Shape{3}.size(), 1u);  // one entry 3
  const std::vector<int64_t> v{4, 5};
  EXPECT_EQ(mg::Shape(v), (mg::Shape{4, 5}));
  EXPECT_LT((mg::Shape{1, 2}), (mg::Shape{1, 3}));
  EXPECT_LT((mg::Shape{1, 2}), (mg::Shape{1, 2, 0}));
  EXPECT_NE((mg::Shape{1, 2}), (mg::Shape{1, 2, 0}));
  mg::Shape r{1, 2, 3};
  r.resize(5, 9);
  EXPECT_EQ(r, (mg::Shape{1, 2, 3, 9, 9}));
  r.resize(2);
  EXPECT_EQ(r, (mg::Shape{1, 2}));
  EXPECT_EQ(std::vector<int64_t>(r.rbegin(), r.rend()), (std::vector<int64_t>{2, 1}));
  EXPECT_MG_ERROR(r.at(2), "Shape::at: index 2 is out of range for 2 dims");
  std::ostringstream os;
  os << mg::Shape{2, 3, 4} << " " << mg::Shape{} << " " << mg::randn({5, 1}).shape();
  EXPECT_EQ(os.str(), "[2, 3, 4] [] [5, 1]");
}
