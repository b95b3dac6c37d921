// Checks every in-place op shares (ops/inplace.h): the result dtype must cast to self's, and
// memory shared between the written tensor and its inputs gives the out-of-place result.
#include "ops/inplace.h"

#include "common/kernel_counter.h"
#include "common/test_util.h"

namespace mixgrad {
namespace {

using detail::MemOverlap;
using testing::CallCounter;
using testing::expect_values;

// ---------------------------------------------------------------- result dtype (can_cast)

TEST(CanCast, FollowsPyTorch) {
  EXPECT_TRUE(can_cast(kInt64, kFloat32));
  EXPECT_TRUE(can_cast(kFloat64, kFloat32));
  EXPECT_TRUE(can_cast(kInt64, kInt32));
  EXPECT_TRUE(can_cast(kBool, kInt32));
  EXPECT_TRUE(can_cast(kBool, kBool));
  EXPECT_TRUE(can_cast(DType::BFloat16, DType::Float16));
  EXPECT_FALSE(can_cast(kFloat32, kInt64));
  EXPECT_FALSE(can_cast(DType::Float16, kInt32));
  EXPECT_FALSE(can_cast(kFloat64, kBool));
  EXPECT_FALSE(can_cast(kInt32, kBool));
}

TEST(InplaceDtype, FloatResultIntoIntegerTensorIsRefused) {
  Tensor i = tensor<int64_t>({1, 2, 3});
  const uint64_t v0 = i.version();
  EXPECT_MG_ERROR(i.add_(tensor({0.5f, 0.5f, 0.5f})),
                  "add_: result type float32 can't be cast to the desired output type int64");
  EXPECT_MG_ERROR(i.sub_(tensor({1.5})), "sub_: result type float64 can't be cast");
  EXPECT_MG_ERROR(i.mul_(0.5), "mul_: result type float32 can't be cast");  // a C++ double
  EXPECT_MG_ERROR(i += 1.5, "add_");
  EXPECT_MG_ERROR(i.div_(2),
                  "div_: result type float32 can't be cast to the desired output "
                  "type int64");     // true division always gives a float
  expect_values(i, {3}, {1, 2, 3});  // nothing was written ...
  EXPECT_EQ(i.version(), v0);        // ... nor counted as written
}

TEST(InplaceDtype, IntegerResultIntoBoolTensorIsRefused) {
  Tensor m = tensor({true, false});
  EXPECT_MG_ERROR(m.add_(1),
                  "add_: result type int64 can't be cast to the desired output type bool");
  EXPECT_MG_ERROR(m.mul_(tensor<int32_t>({1, 0})), "mul_: result type int32 can't be cast");
  expect_values(m, {2}, {1, 0});
}

TEST(InplaceDtype, CastsThatKeepTheKindOfValueAreAllowed) {
  Tensor f = tensor({1.0f, 2.0f});
  f.add_(tensor<int64_t>({1, 2}));  // int64 -> float32
  f.mul_(tensor({2.0, 0.5}));       // float64 -> float32
  EXPECT_EQ(f.dtype(), kFloat32);
  expect_values(f, {2}, {4.0, 2.0});
  Tensor i = tensor<int32_t>({1, 2});
  i.add_(tensor<int64_t>({10, 20}));  // int64 -> int32
  i.mul_(tensor({true, false}));      // bool -> int32
  i.sub_(3);                          // a C++ int keeps int32
  EXPECT_EQ(i.dtype(), kInt32);
  expect_values(i, {2}, {8, -3});
}

TEST(InplaceDtype, OpsThatConvertByDefinitionStillConvert) {
  Tensor i = zeros({3}, kInt64);
  i.copy_(tensor({1.7, -2.7, 3.0}));  // copy_ converts (towards zero), as PyTorch's does
  expect_values(i, {3}, {1, -2, 3});
  i.fill_(2.9);
  expect_values(i, {3}, {2, 2, 2});
  i.masked_fill_(tensor({true, false, false}), 7.5);  // the value takes the tensor's dtype
  expect_values(i, {3}, {7, 2, 2});
  i.clamp_(0.0, 5.0);  // clamp keeps the tensor's dtype; its bounds are doubles
  expect_values(i, {3}, {5, 2, 2});
  Tensor m = zeros({2}, kBool);
  m.copy_(tensor({0.0, 3.0}));
  expect_values(m, {2}, {0, 1});
}

TEST(InplaceDtype, CheckedBeforeTheGradientChecks) {
  // Recording or not, the dtype is refused the same way.
  Tensor w = tensor({0.5, 1.5}).requires_grad_();
  Tensor i = tensor<int64_t>({1, 2});
  EXPECT_MG_ERROR(i.add_(w), "result type float64 can't be cast to the desired output type int64");
  EXPECT_FALSE(i.requires_grad());
}

// ---------------------------------------------------------------- memory overlap

TEST(MemoryOverlap, ClassifiesLayoutsOfOneStorage) {
  using detail::memory_overlap;
  const Tensor x = zeros({6});
  const Tensor m = zeros({3, 4});
  EXPECT_EQ(memory_overlap(x, zeros({6})), MemOverlap::None);  // another storage
  EXPECT_EQ(memory_overlap(x, x), MemOverlap::Full);
  EXPECT_EQ(memory_overlap(m.t(), m.t()), MemOverlap::Full);  // strided, same layout
  EXPECT_EQ(memory_overlap(x.narrow(0, 0, 3), x.narrow(0, 3, 3)), MemOverlap::None);
  EXPECT_EQ(memory_overlap(x.narrow(0, 1, 4), x.narrow(0, 0, 4)), MemOverlap::Partial);
  EXPECT_EQ(memory_overlap(x.narrow(0, 0, 4), x.narrow(0, 1, 4)), MemOverlap::Partial);
  // Interleaved: the ranges intersect but no element is shared.
  EXPECT_EQ(memory_overlap(x.slice(0, 0, 6, 2), x.slice(0, 1, 6, 2)), MemOverlap::None);
  EXPECT_EQ(memory_overlap(m.select(1, 0), m.select(1, 3)), MemOverlap::None);
  EXPECT_EQ(memory_overlap(x.slice(0, 0, 6, 2), x.slice(0, 2, 6, 2)), MemOverlap::Partial);
  EXPECT_EQ(memory_overlap(m, m.t().t()), MemOverlap::Full);
  EXPECT_EQ(memory_overlap(m, m[0]), MemOverlap::Partial);  // a broadcast row of self
  EXPECT_EQ(memory_overlap(m.narrow(0, 0, 2), m.narrow(0, 1, 2)), MemOverlap::Partial);
  EXPECT_EQ(memory_overlap(m.select(0, 0), m.select(0, 2)), MemOverlap::None);
  const Tensor sq = zeros({3, 3});
  EXPECT_EQ(memory_overlap(sq, sq.t()), MemOverlap::Partial);  // same elements, other order
  EXPECT_EQ(memory_overlap(x, zeros({0})), MemOverlap::None);
  EXPECT_EQ(memory_overlap(x.narrow(0, 0, 0), x), MemOverlap::None);
  EXPECT_EQ(memory_overlap(x, Tensor()), MemOverlap::None);
}

TEST(MemoryOverlap, SeesBorrowedBuffersThatAlias) {
  std::vector<float> buf{0, 1, 2, 3, 4};
  Tensor a = from_blob(buf.data(), {4}, kFloat32);
  Tensor b = from_blob(buf.data() + 1, {4}, kFloat32);  // another Storage over the same bytes
  EXPECT_EQ(detail::memory_overlap(b, a), MemOverlap::Partial);
  b.add_(a);  // b[i] += a[i], where a[i + 1] is b[i]
  expect_values(from_blob(buf.data(), {5}, kFloat32), {5}, {0, 1, 3, 5, 7});
  Tensor c = from_blob(buf.data(), {2}, kFloat32);
  Tensor d = from_blob(buf.data() + 2, {2}, kFloat32);
  EXPECT_EQ(detail::memory_overlap(c, d), MemOverlap::None);
}

TEST(InplaceOverlap, ShiftedViewsGiveTheOutOfPlaceResult) {
  // The cases: written front to back, each element used to read its updated neighbour.
  Tensor x = arange(5);
  x.narrow(0, 1, 4).add_(x.narrow(0, 0, 4));
  expect_values(x, {5}, {0, 1, 3, 5, 7});
  Tensor y = arange(5);
  y.narrow(0, 1, 4).copy_(y.narrow(0, 0, 4));
  expect_values(y, {5}, {0, 0, 1, 2, 3});
  Tensor z = arange(5, kFloat64);
  z.narrow(0, 0, 4).copy_(z.narrow(0, 1, 4));  // the other direction
  expect_values(z, {5}, {1, 2, 3, 4, 4});
  Tensor w = arange(1, 6, 1, kFloat32);
  const uint64_t v0 = w.version();
  w.narrow(0, 1, 4).mul_(w.narrow(0, 0, 4));
  expect_values(w, {5}, {1, 2, 6, 12, 20});
  EXPECT_EQ(w.version(), v0 + 1);
  Tensor u = arange(5, kFloat32);
  u.narrow(0, 1, 4).sub_(u.narrow(0, 0, 4), 2);
  expect_values(u, {5}, {0, 1, 0, -1, -2});
  Tensor q = arange(1, 6, 1, kFloat32);
  q.narrow(0, 1, 4).div_(q.narrow(0, 0, 4));
  expect_values(q, {5}, {1, 2, 1.5, 4.0 / 3, 1.25}, 1e-6);
}

TEST(InplaceOverlap, OperandThatIsSelfInAnotherOrderOrBroadcast) {
  Tensor x = tensor({{1.0, 2.0}, {3.0, 4.0}});
  x.add_(x.t());
  expect_values(x, {2, 2}, {2, 5, 5, 8});
  Tensor m = arange(12, kFloat32).view({3, 4});
  m.add_(m[0]);  // row 0 of m, added to every row of m
  expect_values(m, {3, 4}, {0, 2, 4, 6, 4, 6, 8, 10, 8, 10, 12, 14});
  Tensor c = tensor({{0.0f, 1.0f}, {2.0f, 3.0f}});
  c.copy_(c.t());
  expect_values(c, {2, 2}, {0, 2, 1, 3});
}

TEST(InplaceOverlap, MaskOverTheWrittenTensor) {
  Tensor m = tensor({true, false, false, false, false});
  m.narrow(0, 1, 4).masked_fill_(m.narrow(0, 0, 4), true);
  expect_values(m, {5}, {1, 1, 0, 0, 0});
}

TEST(InplaceOverlap, IndexOpsReadingTheirOwnTarget) {
  // Not element-wise: even exactly self as the source must be read before anything is written.
  const Tensor index = tensor<int64_t>({1, 2, 0});
  Tensor a = tensor({1.0, 2.0, 3.0});
  mg::index_add_(a, 0, index, a);  // a[index[i]] += a[i]
  expect_values(a, {3}, {4, 3, 5});
  Tensor s = tensor({1.0, 2.0, 3.0});
  mg::scatter_(s, 0, index, s);  // s[index[i]] = s[i]
  expect_values(s, {3}, {3, 1, 2});
  Tensor p = tensor({1.0, 2.0, 3.0});
  mg::index_put_(p, {index}, p);
  expect_values(p, {3}, {3, 1, 2});
  Tensor i = tensor<int64_t>({2, 0, 1});  // its own index
  mg::scatter_(i, 0, i, tensor<int64_t>({7, 8, 9}));
  expect_values(i, {3}, {8, 9, 7});
}

// How many copy kernels `write` runs: an in-place op computed through a temporary copies its
// result into self.
template <class Fn>
int copies_in(Fn&& write) {
  CallCounter<kernels::copy> copies;
  write();
  return copies.calls();
}

TEST(InplaceOverlap, LegalSharingIsWrittenDirectlyWithoutATemporary) {
  Tensor x = tensor({1.0f, 2.0f, 3.0f, 4.0f});
  // Full overlap: each element is read, then written.
  EXPECT_EQ(copies_in([&] { x.add_(x); }), 0);
  expect_values(x, {4}, {2, 4, 6, 8});
  EXPECT_EQ(copies_in([&] { x.mul_(x); }), 0);
  expect_values(x, {4}, {4, 16, 36, 64});
  // Disjoint views of one storage.
  EXPECT_EQ(copies_in([&] { x.narrow(0, 0, 2).sub_(x.narrow(0, 2, 2)); }), 0);
  expect_values(x, {4}, {-32, -48, 36, 64});
  EXPECT_EQ(copies_in([&] { x.slice(0, 0, 4, 2).add_(x.slice(0, 1, 4, 2)); }), 0);  // interleaved
  expect_values(x, {4}, {-80, -48, 100, 64});
  x.mul_(0.5);
  expect_values(x, {4}, {-40, -24, 50, 32});

  Tensor m = tensor({{1.0f, 2.0f}, {3.0f, 4.0f}});
  EXPECT_EQ(copies_in([&] { m.t().add_(m.t()); }), 0);  // strided, same layout
  expect_values(m, {2, 2}, {2, 4, 6, 8});
  const Tensor row = tensor({1.0f, 2.0f});
  EXPECT_EQ(copies_in([&] { m.add_(row); }), 0);  // broadcast row of another storage
  expect_values(m, {2, 2}, {3, 6, 7, 10});
  // Two columns, disjoint: the copy itself and no temporary.
  EXPECT_EQ(copies_in([&] { m.select(1, 0).copy_(m.select(1, 1)); }), 1);
  expect_values(m, {2, 2}, {6, 6, 10, 10});
}

TEST(InplaceOverlap, PartialOverlapCostsOneTemporary) {
  Tensor x = arange(6, kFloat32);
  EXPECT_EQ(copies_in([&] { x.narrow(0, 1, 4).add_(x.narrow(0, 0, 4)); }), 1);
  expect_values(x, {6}, {0, 1, 3, 5, 7, 5});
}

TEST(InplaceOverlap, ExpandedTargetIsRefused) {
  const char* msg = "more than one element of the written-to tensor";
  Tensor base = zeros({1, 3});
  Tensor e = base.expand({2, 3});
  EXPECT_MG_ERROR(e.add_(1.0), "add_: unsupported operation: more than one element");
  EXPECT_MG_ERROR(e.copy_(ones({2, 3})), msg);
  EXPECT_MG_ERROR(e.fill_(1.0), msg);
  EXPECT_MG_ERROR(e.masked_fill_(ones({2, 3}, kBool), 1.0), msg);
  EXPECT_MG_ERROR(e.clamp_(0.0, 1.0), msg);
  EXPECT_MG_ERROR(mg::index_add_(e, 0, tensor<int64_t>({0}), ones({1, 3})), msg);
  EXPECT_MG_ERROR(e.add_(e), "strides [0, 1]");
  expect_values(base, {1, 3}, {0, 0, 0});
  Tensor one = zeros({3}).expand({1, 3});  // stride 0 over a dim of size 1 is no overlap
  one.add_(1.0);
  expect_values(one, {1, 3}, {1, 1, 1});
}

TEST(InplaceOverlap, RecordedOpsKeepTheirGradients) {
  Tensor x = tensor({1.0, 2.0, 3.0}).requires_grad_();
  Tensor y = x * 2;
  y.add_(y);  // recorded, with self as its own operand
  y.mul_(x);  // 4 x^2
  expect_values(y, {3}, {4, 16, 36});
  y.sum().backward();
  expect_values(x.grad(), {3}, {8, 16, 24});  // 8 x

  // An operand sharing self's memory under a NoGradGuard'ed update, then a recorded op on it.
  Tensor w = tensor({1.0, 2.0, 3.0, 4.0}).requires_grad_();
  {
    NoGradGuard no_grad;
    w.narrow(0, 1, 3).add_(w.narrow(0, 0, 3));  // w = [1, 3, 5, 7]
  }
  (w * w).sum().backward();
  expect_values(w.grad(), {4}, {2, 6, 10, 14});
}

}  // namespace
}  // namespace mixgrad
