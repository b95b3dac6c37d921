#include "common/test_util.h"

namespace mg = mixgrad;
using mg::testing::expect_values;

TEST(Creation, ZerosOnesFullDefaults) {
  expect_values(mg::zeros({2, 2}), {2, 2}, {0, 0, 0, 0});
  expect_values(mg::ones({3}), {3}, {1, 1, 1});
  EXPECT_EQ(mg::zeros({2}).dtype(), mg::kFloat32);
  EXPECT_EQ(mg::full({2}, 7).dtype(), mg::kInt64);
  EXPECT_EQ(mg::full({2}, 7.5).dtype(), mg::kFloat32);
  EXPECT_EQ(mg::full({2}, true).dtype(), mg::kBool);
  expect_values(mg::full({1, 2}, 2.5, mg::kFloat64), {1, 2}, {2.5, 2.5});
  EXPECT_EQ(mg::zeros({0, 3}).numel(), 0);
}

TEST(Creation, ArangeLinspaceEye) {
  expect_values(mg::arange(5), {5}, {0, 1, 2, 3, 4});
  EXPECT_EQ(mg::arange(5).dtype(), mg::kInt64);
  expect_values(mg::arange(1, 2, 0.25), {4}, {1, 1.25, 1.5, 1.75});
  EXPECT_EQ(mg::arange(1, 2, 0.25).dtype(), mg::kFloat32);
  expect_values(mg::arange(5, 0, -2), {3}, {5, 3, 1});
  expect_values(mg::linspace(0, 1, 5, mg::kFloat64), {5}, {0, 0.25, 0.5, 0.75, 1});
  expect_values(mg::linspace(3, 3, 1), {1}, {3});
  expect_values(mg::eye(2, 3), {2, 3}, {1, 0, 0, 0, 1, 0});
  EXPECT_MG_ERROR(mg::arange(0, 5, 0), "step must be non-zero");
  EXPECT_MG_ERROR(mg::arange(5, 0, 1), "inconsistent with step sign");
  EXPECT_MG_ERROR(mg::linspace(0, 1, -1), "non-negative");
}

TEST(Creation, FromVectorsAndInitializerLists) {
  auto a = mg::tensor({1.f, 2.f, 3.f});
  EXPECT_EQ(a.dtype(), mg::kFloat32);
  expect_values(a, {3}, {1, 2, 3});
  auto b = mg::tensor({{1, 2}, {3, 4}, {5, 6}});
  EXPECT_EQ(b.dtype(), mg::kInt32);
  expect_values(b, {3, 2}, {1, 2, 3, 4, 5, 6});
  auto c = mg::tensor(std::vector<double>{1, 2, 3, 4}, mg::Shape{2, 2});
  expect_values(c, {2, 2}, {1, 2, 3, 4});
  auto d = mg::tensor({true, false});
  EXPECT_EQ(d.dtype(), mg::kBool);
  expect_values(d, {2}, {1, 0});
  auto e = mg::tensor({1, 2}, mg::kFloat64);
  EXPECT_EQ(e.dtype(), mg::kFloat64);
  EXPECT_MG_ERROR(mg::tensor(std::vector<float>{1, 2, 3}, mg::Shape{2, 2}), "needs 4 values");
  EXPECT_MG_ERROR(mg::tensor({{1, 2}, {3}}), "ragged");
}

TEST(Creation, FromBlobBorrowsMemory) {
  std::vector<float> data{1, 2, 3, 4, 5, 6};
  bool released = false;
  {
    auto t = mg::from_blob(data.data(), {2, 3}, mg::kFloat32, [&](void*) { released = true; });
    data[4] = 50;  // no copy: the tensor sees the change
    expect_values(t, {2, 3}, {1, 2, 3, 4, 50, 6});
    t[0].fill_(0);
    EXPECT_EQ(data[0], 0);
    auto strided = mg::from_blob(data.data(), {3}, mg::kFloat32, nullptr, mg::Shape{2});
    expect_values(strided, {3}, {0, 0, 50});
  }
  EXPECT_TRUE(released);
}

TEST(Creation, ItemAndTypedAccess) {
  EXPECT_EQ(mg::full({}, 3.5).item<double>(), 3.5);
  EXPECT_EQ(mg::full({1, 1}, 4).item<int>(), 4);
  EXPECT_MG_ERROR(mg::zeros({2}).item<float>(), "one element");
  auto t = mg::arange(6).view({2, 3});
  auto span = t.data<int64_t>();
  EXPECT_EQ(span.size(), 6u);
  EXPECT_EQ(span[5], 5);
  EXPECT_MG_ERROR(t.data<float>(), "dtype int64 but float32");
  EXPECT_MG_ERROR(t.t().data<int64_t>(), "not contiguous");
  EXPECT_EQ(t.t().to_vector<int64_t>(), (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
}

TEST(Creation, RandomIsSeededAndInRange) {
  mg::Generator g1(42), g2(42), g3(43);
  auto a = mg::rand({1000}, {}, &g1);
  auto b = mg::rand({1000}, {}, &g2);
  auto c = mg::rand({1000}, {}, &g3);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  EXPECT_NE(a.to_vector<float>(), c.to_vector<float>());
  for (float v : a.to_vector<float>()) {
    EXPECT_GE(v, 0.f);
    EXPECT_LT(v, 1.f);
  }
  // A second draw continues the stream rather than repeating it.
  EXPECT_NE(mg::rand({1000}, {}, &g1).to_vector<float>(), a.to_vector<float>());
  mg::manual_seed(7);
  auto r1 = mg::randn({5});
  mg::manual_seed(7);
  EXPECT_EQ(mg::randn({5}).to_vector<float>(), r1.to_vector<float>());
}

TEST(Creation, RandnMomentsAndRandint) {
  mg::Generator g(5);
  auto x = mg::randn({20000}, mg::kFloat64, &g).to_vector<double>();
  double mean = 0, sq = 0;
  for (double v : x) mean += v;
  mean /= x.size();
  for (double v : x) sq += (v - mean) * (v - mean);
  EXPECT_NEAR(mean, 0.0, 0.05);
  EXPECT_NEAR(sq / x.size(), 1.0, 0.05);
  auto r = mg::randint(-3, 4, {5000}, {}, &g).to_vector<int64_t>();
  std::vector<int> counts(7, 0);
  for (int64_t v : r) {
    ASSERT_GE(v, -3);
    ASSERT_LT(v, 4);
    ++counts[v + 3];
  }
  for (int c : counts) EXPECT_GT(c, 500);
  EXPECT_MG_ERROR(mg::randint(3, 3, {2}), "low < high");
}

TEST(TensorMeta, ShapeStridesAndDims) {
  auto t = mg::zeros({2, 3, 4});
  EXPECT_EQ(t.dim(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.strides(), (mg::Shape{12, 4, 1}));
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.stride(0), 12);
  EXPECT_MG_ERROR(t.size(3), "dim 3 out of range");
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_FALSE(t.transpose(0, 2).is_contiguous());
  EXPECT_EQ(mg::describe(t), "float32[2, 3, 4] on cpu");
}

TEST(Views, ShareStorageWithoutCopy) {
  auto base = mg::arange(12, mg::kFloat32).view({3, 4});
  auto row = base[1];
  auto col = base.select(1, 2);
  auto sub = base.narrow(1, 1, 2);
  EXPECT_EQ(row.storage(), base.storage());
  EXPECT_EQ(col.storage(), base.storage());
  expect_values(row, {4}, {4, 5, 6, 7});
  expect_values(col, {3}, {2, 6, 10});
  expect_values(sub, {3, 2}, {1, 2, 5, 6, 9, 10});
  row.fill_(-1);
  expect_values(base.select(0, 1), {4}, {-1, -1, -1, -1});
  expect_values(base.slice(1, 0, 4, 2), {3, 2}, {0, 2, -1, -1, 8, 10});
  expect_values(base.slice(0, -1), {1, 4}, {8, 9, 10, 11});
  expect_values(base[-1], {4}, {8, 9, 10, 11});
}

TEST(Views, PermuteTransposeExpandSqueeze) {
  auto x = mg::arange(6).view({1, 2, 3});
  auto p = x.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (mg::Shape{3, 1, 2}));
  expect_values(p, {3, 1, 2}, {0, 3, 1, 4, 2, 5});
  expect_values(x.squeeze(), {2, 3}, {0, 1, 2, 3, 4, 5});
  EXPECT_EQ(x.squeeze(0).shape(), (mg::Shape{2, 3}));
  EXPECT_EQ(x.squeeze(1).shape(), (mg::Shape{1, 2, 3}));
  EXPECT_EQ(x.unsqueeze(-1).shape(), (mg::Shape{1, 2, 3, 1}));
  auto e = mg::tensor({1, 2, 3}).view({3, 1}).expand({3, 2});
  expect_values(e, {3, 2}, {1, 1, 2, 2, 3, 3});
  EXPECT_EQ(e.stride(1), 0);
  expect_values(mg::tensor({5}).expand({2, 2}), {2, 2}, {5, 5, 5, 5});
  EXPECT_EQ(x.flatten().shape(), (mg::Shape{6}));
  EXPECT_EQ(x.flatten(1).shape(), (mg::Shape{1, 6}));
  EXPECT_EQ(mg::zeros({6}).unflatten(0, {2, -1}).shape(), (mg::Shape{2, 3}));
  EXPECT_MG_ERROR(x.permute({0, 0, 1}), "repeated dim");
  EXPECT_MG_ERROR(x.expand({2, 4, 3}), "cannot expand");
  EXPECT_MG_ERROR(x.narrow(2, 2, 2), "exceeds dim");
  EXPECT_MG_ERROR(x.select(1, 2), "out of bounds");
  EXPECT_MG_ERROR(x.t(), "<= 2 dims");
}

TEST(Views, ViewVersusReshape) {
  auto x = mg::arange(6).view({2, 3});
  auto v = x.view({3, -1});
  EXPECT_EQ(v.shape(), (mg::Shape{3, 2}));
  EXPECT_EQ(v.storage(), x.storage());
  auto xt = x.t();
  EXPECT_MG_ERROR(xt.view({6}), "use reshape()");
  auto r = xt.reshape({6});
  EXPECT_NE(r.storage(), x.storage());  // a copy was needed
  expect_values(r, {6}, {0, 3, 1, 4, 2, 5});
  EXPECT_EQ(x.reshape({6}).storage(), x.storage());  // no copy when a view works
  EXPECT_MG_ERROR(x.view({4, -1}), "invalid for input of size 6");
  EXPECT_MG_ERROR(x.view({-1, -1}), "only one dimension can be -1");
  // Non-contiguous but viewable: splitting a dim of a transposed tensor.
  auto y = mg::arange(24).view({4, 6}).t();  // [6, 4]
  auto yv = y.view({2, 3, 4});
  EXPECT_EQ(yv.storage(), y.storage());
  EXPECT_EQ(yv.to_vector<int64_t>(), y.contiguous().view({2, 3, 4}).to_vector<int64_t>());
}

TEST(Copies, ContiguousCloneCopyTo) {
  auto x = mg::arange(6, mg::kFloat64).view({2, 3});
  EXPECT_TRUE(x.contiguous().is_same(x));
  auto c = x.t().contiguous();
  EXPECT_TRUE(c.is_contiguous());
  expect_values(c, {3, 2}, {0, 3, 1, 4, 2, 5});
  auto k = x.clone();
  k.fill_(1);
  expect_values(x, {2, 3}, {0, 1, 2, 3, 4, 5});
  auto dst = mg::zeros({2, 3}, mg::kInt32);
  dst.copy_(mg::tensor({7.9, -1.5, 2.0}));  // broadcast + float -> int conversion truncates
  expect_values(dst, {2, 3}, {7, -1, 2, 7, -1, 2});
  auto f = mg::tensor({1.5, -2.5}).to(mg::kInt64);
  EXPECT_EQ(f.dtype(), mg::kInt64);
  expect_values(f, {2}, {1, -2});
  expect_values(mg::tensor({0.0, 2.0}).to(mg::kBool), {2}, {0, 1});
  EXPECT_MG_ERROR(dst.copy_(mg::zeros({4})), "cannot expand");
}

TEST(Printing, LooksLikePyTorch) {
  EXPECT_EQ(mg::tensor({1.5f, -2.f}).to_string(),
            "tensor([ 1.5000, -2.0000], shape=[2], dtype=float32)");
  EXPECT_EQ(mg::arange(4).view({2, 2}).to_string(),
            "tensor([[0, 1],\n        [2, 3]], shape=[2, 2], dtype=int64)");
  EXPECT_EQ(mg::tensor({true, false}).to_string(), "tensor([ True, False], shape=[2], dtype=bool)");
  EXPECT_EQ(mg::full({}, 2.0, mg::kFloat64).to_string(), "tensor(2., shape=[], dtype=float64)");
  EXPECT_EQ(mg::zeros({0}).to_string(), "tensor([], shape=[0], dtype=float32)");
  auto big = mg::arange(2000).to_string();
  EXPECT_EQ(big, "tensor([   0,    1,    2, ..., 1997, 1998, 1999], shape=[2000], dtype=int64)");
  auto w = mg::ones({1}).requires_grad_();
  EXPECT_NE(w.to_string().find("requires_grad=true"), std::string::npos);
  EXPECT_NE((w * 2).to_string().find("grad_fn=<mul>"), std::string::npos);
  EXPECT_NE(mg::tensor({1e-6, 1.0}).to_string().find("e-06"), std::string::npos);
}

TEST(Device, ParsingAndErrors) {
  EXPECT_EQ(mg::Device("cpu"), mg::Device::cpu());
  EXPECT_EQ(mg::Device("cuda:1"), mg::Device::cuda(1));
  EXPECT_EQ(mg::describe(mg::Device::cuda(2)), "cuda:2");
  EXPECT_MG_ERROR(mg::Device("tpu"), "cannot parse device");
  EXPECT_MG_ERROR(mg::Device("cuda:x"), "cannot parse device");
}

TEST(DTypes, PromotionAndDefault) {
  EXPECT_EQ(mg::promote_types(mg::kInt32, mg::kFloat32), mg::kFloat32);
  EXPECT_EQ(mg::promote_types(mg::kBool, mg::kInt32), mg::kInt32);
  EXPECT_EQ(mg::promote_types(mg::kFloat32, mg::kFloat64), mg::kFloat64);
  EXPECT_EQ(mg::promote_types(mg::kInt64, mg::kInt32), mg::kInt64);
  EXPECT_EQ(mg::dtype_size(mg::DType::BFloat16), 2u);
  mg::set_default_dtype(mg::kFloat64);
  EXPECT_EQ(mg::zeros({1}).dtype(), mg::kFloat64);
  EXPECT_EQ(mg::rand({1}).dtype(), mg::kFloat64);
  mg::set_default_dtype(mg::kFloat32);
  EXPECT_MG_ERROR(mg::set_default_dtype(mg::kInt32), "expected float32 or float64");
}
