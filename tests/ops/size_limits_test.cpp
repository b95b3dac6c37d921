// Issue 17's reproducers for sizes whose arithmetic overflows int64 and for number conversions
// that were undefined behaviour: each must give a mixgrad::Error (or the PyTorch value), never a
// wrapped size, an out-of-bounds write or a silently wrong number.
#include <cmath>
#include <cstdint>
#include <limits>

#include "common/test_util.h"
#include "data/dataloader.h"
#include "data/dataset.h"
#include "ops/moe_routing.h"
#include "optim/clip_grad.h"

namespace mg = mixgrad;
using mg::Tensor;

namespace {
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t k2e40 = int64_t{1} << 40;
}  // namespace

TEST(SizeLimits, CreationRefusesSizesWhoseBytesOrCountOverflow) {
  EXPECT_THROW(mg::full({kMax}, 1.0), mg::Error);  // the byte count wrapped
  EXPECT_THROW(mg::zeros({3, kMax}), mg::Error);
  EXPECT_THROW(mg::zeros({k2e40, k2e40}), mg::Error);  // numel() read 0
  EXPECT_THROW(mg::zeros({int64_t{1} << 62, 4}), mg::Error);
  EXPECT_THROW(mg::ones({int64_t{1} << 33, int64_t{1} << 31}), mg::Error);
  EXPECT_THROW(mg::empty({-1}), mg::Error);
  EXPECT_THROW(mg::empty_strided({2, 3}, {kMax, 1}), mg::Error);
  EXPECT_THROW(mg::empty_strided({2, 3}, {-1, 1}), mg::Error);
  // A zero dim makes the tensor empty but its strides still have to fit.
  EXPECT_THROW(mg::zeros({0, k2e40, k2e40}), mg::Error);
  EXPECT_EQ(mg::zeros({0, k2e40}).numel(), 0);
  // Strides of 2^62 elements are no byte offsets: an empty fill must not compute them (UBSan).
  EXPECT_EQ(mg::zeros({0, int64_t{1} << 62}).numel(), 0);
  EXPECT_EQ(mg::eye(int64_t{1} << 62, 0).numel(), 0);
  EXPECT_THROW(mg::tensor(std::vector<float>{1.f}, mg::Shape{k2e40, k2e40, 0}), mg::Error);
  float value = 1.f;
  EXPECT_THROW(mg::from_blob(&value, {k2e40, k2e40}, mg::kFloat32), mg::Error);
  try {
    mg::zeros({3, kMax});
    FAIL() << "expected an Error";
  } catch (const mg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("[3, 9223372036854775807]"), std::string::npos)
        << e.what();
  }
}

TEST(SizeLimits, AllocatorRefusesRequestsItCannotRound) {
  mg::Allocator& cpu = mg::allocator_for(mg::Device::cpu());
  EXPECT_THROW(cpu.allocate(std::numeric_limits<std::size_t>::max()), mg::Error);
  EXPECT_THROW(cpu.allocate(mg::kMaxTensorBytes + 1), mg::Error);
}

TEST(SizeLimits, ViewsRefuseOverflowingOrNegativeSizes) {
  const Tensor one = mg::ones({1});
  EXPECT_THROW(one.expand({-2}), mg::Error);
  EXPECT_THROW(one.expand({2, -1, -2}), mg::Error);
  EXPECT_THROW(one.expand({k2e40, k2e40}), mg::Error);
  // A stride-0 view of 2^62 elements is legal, as in PyTorch: nothing is allocated.
  EXPECT_EQ(one.expand({int64_t{1} << 31, int64_t{1} << 31}).numel(), int64_t{1} << 62);
  EXPECT_THROW(mg::repeat(mg::ones({2}), {k2e40, k2e40}), mg::Error);
  EXPECT_THROW(mg::repeat(mg::ones({2}), {kMax}), mg::Error);
  const Tensor x = mg::arange(5);
  EXPECT_THROW(x.narrow(0, 2, kMax), mg::Error);  // start + length wrapped
  EXPECT_THROW(x.narrow(0, kMax, 1), mg::Error);
  EXPECT_EQ(x.narrow(0, 2, 3).numel(), 3);
  EXPECT_EQ(x.narrow(0, 5, 0).numel(), 0);
  EXPECT_THROW(mg::zeros({0}).reshape({k2e40, k2e40, 0}), mg::Error);
  EXPECT_THROW(mg::zeros({0}).view({k2e40, k2e40, -1}), mg::Error);
  EXPECT_THROW(x.as_strided({2, 2}, {kMax, 1}, 0), mg::Error);
  EXPECT_THROW(x.as_strided({2}, {1}, kMax), mg::Error);
  EXPECT_THROW(x.as_strided({5}, {1}, 1), mg::Error);
  EXPECT_EQ(x.as_strided({2, 2}, {1, 1}, 2).numel(), 4);
}

TEST(SizeLimits, FloatingScalarsConvertToIntegersOnlyWhereCheckedAndInRange) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(std::isnan(mg::full({}, nan).item<double>()));
  EXPECT_TRUE(std::isnan(mg::full({2}, nan, mg::kFloat32)[1].item<float>()));
  EXPECT_TRUE(std::isinf(mg::full({1}, inf).item<float>()));
  EXPECT_TRUE(std::isnan(mg::Scalar(nan).to<float>()));
  EXPECT_EQ(mg::Scalar(3.7).to<int64_t>(), 3);
  EXPECT_EQ(mg::Scalar(-3.7).to_int(), -3);
  EXPECT_THROW(mg::Scalar(nan).to_int(), mg::Error);
  EXPECT_THROW(mg::Scalar(inf).to<int32_t>(), mg::Error);
  EXPECT_THROW(mg::Scalar(1e19).to<int64_t>(), mg::Error);
  EXPECT_EQ(mg::Scalar(-0x1p63).to<int64_t>(), kMin);
  EXPECT_THROW(mg::Scalar(0x1p63).to<int64_t>(), mg::Error);
  EXPECT_THROW(mg::Scalar(int64_t{1} << 40).to<int32_t>(), mg::Error);
  EXPECT_THROW(mg::Scalar(1e300).to<float>(), mg::Error);
  EXPECT_EQ(mg::Scalar(kMax).to<int64_t>(), kMax);
  EXPECT_EQ(mg::Scalar(true).to<double>(), 1.0);
  // Filling an integer tensor with a value it cannot hold is refused, as in PyTorch.
  EXPECT_THROW(mg::full({2}, nan, mg::kInt64), mg::Error);
  EXPECT_THROW(mg::full({2}, 1e20, mg::kInt64), mg::Error);
  EXPECT_THROW(mg::full({2}, int64_t{1} << 40, mg::kInt32), mg::Error);
  EXPECT_EQ(mg::full({2}, 2.9, mg::kInt64)[1].item<int64_t>(), 2);
}

TEST(SizeLimits, ArangeRefusesRangesBeyondInt64) {
  EXPECT_THROW(mg::arange(0.0, 1e20), mg::Error);
  EXPECT_THROW(mg::arange(0.0, std::numeric_limits<double>::infinity()), mg::Error);
  EXPECT_THROW(mg::arange(std::numeric_limits<double>::quiet_NaN(), 1.0), mg::Error);
  EXPECT_THROW(mg::arange(0.0, 1.0, std::numeric_limits<double>::quiet_NaN()), mg::Error);
  EXPECT_EQ(mg::arange(0.0, 1.0, 0.25).numel(), 4);
  // Integer bounds beyond 2^53 are exact (a double would round them, even past int64).
  EXPECT_EQ(mg::arange(kMax - 2, kMax).to_vector<int64_t>(),
            (std::vector<int64_t>{kMax - 2, kMax - 1}));
  EXPECT_EQ(mg::arange(kMin, kMax, int64_t{1} << 62).to_vector<int64_t>(),
            (std::vector<int64_t>{kMin, -(int64_t{1} << 62), 0, int64_t{1} << 62}));
  EXPECT_EQ(mg::arange(kMax, kMin, -(kMax / 2 + 1)).numel(), 4);
  EXPECT_THROW(mg::arange(-kMax, kMin, 3), mg::Error);  // equal as doubles, not as integers
  EXPECT_THROW(mg::arange(kMin, kMax, 1), mg::Error);   // 2^64 - 1 elements
}

TEST(SizeLimits, RepeatIntoAnEmptyResultNeedsNoCountableTiling) {
  Tensor x = mg::zeros({2, 1, 0, 1}).requires_grad_(true);
  Tensor y = mg::repeat(x, {3, 1, kMax, 2});
  EXPECT_EQ(y.shape(), (mg::Shape{6, 1, 0, 2}));
  y.sum().backward();
  EXPECT_EQ(x.grad().shape(), x.shape());
}

TEST(SizeLimits, ClipGradNormOfNanGradientsReturnsNan) {
  Tensor p = mg::ones({3}).requires_grad_(true);
  (p * std::numeric_limits<float>::quiet_NaN()).sum().backward();
  EXPECT_TRUE(std::isnan(mg::optim::clip_grad_norm({p}, 1.0)));
  EXPECT_THROW(mg::optim::clip_grad_norm({p}, 1.0, 2.0, /*error_if_nonfinite=*/true), mg::Error);
}

TEST(SizeLimits, ExpertCapacityWithAHugeFactorKeepsEveryToken) {
  // The capacity used to go through an out-of-range conversion and fall back to min_capacity.
  EXPECT_EQ(mg::expert_capacity(100, 4, 1e300, 2), 100);
  EXPECT_EQ(mg::expert_capacity(100, 4, 1.0, 2), 25);
  EXPECT_EQ(mg::expert_capacity(100, 4, 0.01, 2), 2);
}

TEST(SizeLimits, DataLoaderWithTheLargestBatchSizeGivesOneBatch) {
  auto data =
      std::make_shared<mg::data::TensorDataset>(mg::arange(10, mg::kFloat32).reshape({5, 2}));
  mg::data::DataLoader loader(data, {.batch_size = kMax});
  EXPECT_EQ(loader.size(), 1);
  int64_t batches = 0;
  for (const auto& batch : loader) {
    EXPECT_EQ(batch.input.size(0), 5);
    ++batches;
  }
  EXPECT_EQ(batches, 1);
  mg::data::DataLoader exact(data, {.batch_size = 5, .drop_last = true});
  EXPECT_EQ(exact.size(), 1);
  mg::data::DataLoader partial(data, {.batch_size = 2, .drop_last = true});
  EXPECT_EQ(partial.size(), 2);
  mg::data::DataLoader all(data, {.batch_size = 2});
  EXPECT_EQ(all.size(), 3);
}

TEST(SizeLimits, ConvAndPoolRefuseGeometryThatOverflows) {
  const Tensor x = mg::ones({1, 1, 4, 4});
  const Tensor w = mg::ones({1, 1, 3, 3});
  EXPECT_THROW(mg::conv2d(x, w, {}, {.padding = kMax / 2 + 1}), mg::Error);
  EXPECT_THROW(mg::conv2d(x, w, {}, {.dilation = kMax / 2}), mg::Error);
  EXPECT_THROW(mg::max_pool2d(x, 3, {.stride = kMax, .padding = 1, .ceil_mode = true}), mg::Error);
  EXPECT_THROW(mg::max_pool2d(x, 3, {.dilation = kMax / 2}), mg::Error);
  EXPECT_EQ(mg::max_pool2d(x, 3, {.stride = kMax}).numel(), 1);
  EXPECT_THROW(mg::max_pool2d(x, 2, {.dilation = kMax}), mg::Error);  // span kMax + 1
  EXPECT_THROW(mg::conv2d(x, mg::ones({1, 1, 2, 2}), {}, {.dilation = kMax}), mg::Error);
}

TEST(SizeLimits, SliceSplitChunkAndCatWithHugeArguments) {
  const Tensor x = mg::arange(6).reshape({2, 3});
  EXPECT_EQ(mg::slice(x, 1, 0, 3, kMax).to_vector<int64_t>(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(mg::slice(x, 0, 0, 2, int64_t{1} << 62).shape(), (mg::Shape{1, 3}));
  EXPECT_EQ(mg::slice(x, 1, 1, kMax, 2).to_vector<int64_t>(), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(mg::split(x, kMax, 1).size(), 1u);
  EXPECT_THROW(mg::split(x, std::vector<int64_t>{kMax, 1}, 0), mg::Error);
  EXPECT_EQ(mg::chunk(x, kMax, 1).size(), 3u);
  const Tensor wide = mg::ones({1}).expand({0, int64_t{1} << 62});
  EXPECT_THROW(mg::cat({wide, wide}, 1), mg::Error);
}

TEST(SizeLimits, AlphaFollowsPyTorchsRulesAndFitsItsDouble) {
  const Tensor i = mg::arange(3);
  EXPECT_THROW(mg::add(i, i, 0.5), mg::Error);  // would be truncated
  EXPECT_THROW(mg::sub(i, i, 2.0), mg::Error);
  EXPECT_THROW(mg::add(i, i, kMax), mg::Error);  // 2^63 as a double: no int64
  EXPECT_EQ(mg::add(i, i, 3).to_vector<int64_t>(), (std::vector<int64_t>{0, 4, 8}));
  EXPECT_EQ(mg::add(i.to(mg::kFloat32), i, 0.5).to_vector<float>(),
            (std::vector<float>{0, 1.5f, 3}));
  Tensor j = i.clone();
  EXPECT_THROW(j.add_(i, 0.5), mg::Error);
  EXPECT_EQ(j.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2}));  // untouched
  EXPECT_THROW(mg::add(mg::ones({2}), mg::ones({2}), true), mg::Error);
  EXPECT_THROW(mg::index_add(i, 0, mg::tensor<int64_t>({0}), mg::tensor<int64_t>({1}),
                             std::numeric_limits<double>::infinity()),
               mg::Error);
  EXPECT_THROW(mg::index_add(i, 0, mg::tensor<int64_t>({0}), mg::tensor<int64_t>({1}), kMax),
               mg::Error);
  EXPECT_EQ(mg::index_add(i, 0, mg::tensor<int64_t>({0}), mg::tensor<int64_t>({1}), 2.0)
                .to_vector<int64_t>(),
            (std::vector<int64_t>{2, 1, 2}));
}

TEST(SizeLimits, RandintOverTheFullInt64Range) {
  const Tensor r = mg::randint(kMin, kMax, {4096});
  const auto v = r.to_vector<int64_t>();
  EXPECT_LT(*std::min_element(v.begin(), v.end()), 0);
  EXPECT_GT(*std::max_element(v.begin(), v.end()), 0);
  const Tensor top = mg::randint(kMax - 2, kMax, {256});
  for (int64_t x : top.to_vector<int64_t>()) EXPECT_TRUE(x == kMax - 2 || x == kMax - 1) << x;
}

TEST(SizeLimits, EmptyInnerDimAndEmptyReductions) {
  // Operands with no elements have no storage: the product is the beta term alone.
  const Tensor a = mg::zeros({3, 0}).t().t();
  EXPECT_TRUE(mg::all(mg::matmul(mg::zeros({3, 0}), mg::zeros({0, 4})).eq(0)).item<bool>());
  EXPECT_TRUE(
      mg::all(mg::matmul(mg::zeros({2, 3, 0}, mg::kInt64), mg::zeros({2, 0, 4}, mg::kInt64)).eq(0))
          .item<bool>());
  EXPECT_EQ(a.numel(), 0);
  const Tensor l = mg::logsumexp(mg::zeros({3, 0}), {1});
  ASSERT_EQ(l.shape(), (mg::Shape{3}));
  for (float v : l.to_vector<float>()) EXPECT_EQ(v, -std::numeric_limits<float>::infinity());
}
