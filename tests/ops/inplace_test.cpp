// Checks every in-place op shares (ops/inplace.h): the result dtype must cast to self's, and
// memory shared between the written tensor and its inputs gives the out-of-place result.
#include "common/test_util.h"

namespace mixgrad {
namespace {

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

}  // namespace
}  // namespace mixgrad
