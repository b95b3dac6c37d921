#include "common/test_util.h"

namespace mg = mixgrad;
using mg::testing::expect_values;

TEST(Engine, BackwardOfSimpleExpression) {
  auto a = mg::tensor({1.0, 2.0, 3.0}).requires_grad_();
  auto b = mg::tensor({4.0, 5.0, 6.0}).requires_grad_();
  auto loss = (a * b + a).sum();
  EXPECT_FALSE(loss.is_leaf());
  EXPECT_EQ(loss.grad_fn()->name(), "sum");
  loss.backward();
  expect_values(a.grad(), {3}, {5, 6, 7});
  expect_values(b.grad(), {3}, {1, 2, 3});
}

TEST(Engine, GradientsAccumulateUntilZeroed) {
  auto w = mg::tensor({2.0}).requires_grad_();
  auto loss = (w * w).sum();
  loss.backward({}, /*retain_graph=*/true);
  loss.backward();
  expect_values(w.grad(), {1}, {8});  // 2 * (2w) accumulated twice
  w.zero_grad();
  EXPECT_FALSE(w.grad().defined());
  (w * 3).sum().backward();
  expect_values(w.grad(), {1}, {3});
}

TEST(Engine, SecondBackwardWithoutRetainGraphThrows) {
  auto w = mg::tensor({2.0}).requires_grad_();
  auto loss = mg::exp(w).sum();
  loss.backward();
  EXPECT_MG_ERROR(loss.backward(), "backward through the graph a second time");
}

TEST(Engine, NonScalarNeedsExplicitGradient) {
  auto w = mg::tensor({1.0, 2.0}).requires_grad_();
  auto y = w * 3;
  EXPECT_MG_ERROR(y.backward(), "only for outputs with one element");
  EXPECT_MG_ERROR(y.backward(mg::ones({3}, mg::kFloat64)), "does not match output");
  y.backward(mg::tensor({1.0, 10.0}));
  expect_values(w.grad(), {2}, {3, 30});
}

TEST(Engine, BackwardOnTensorWithoutGradIsAnError) {
  auto x = mg::ones({2});
  EXPECT_MG_ERROR(x.sum().backward(), "does not require grad");
}

TEST(Engine, DiamondGraphAccumulatesBothPaths) {
  auto x = mg::tensor({3.0}).requires_grad_();
  auto a = x * 2;
  auto b = x * x;
  (a + b).sum().backward();
  expect_values(x.grad(), {1}, {8});  // 2 + 2x
}

TEST(Engine, GradFunctionLeavesDotGradUntouched) {
  auto x = mg::tensor({1.0, 2.0}).requires_grad_();
  auto y = mg::tensor({3.0}).requires_grad_();
  auto unused = mg::tensor({1.0}).requires_grad_();
  auto out = (x * x * y).sum();
  auto grads = mg::autograd::grad({out}, {x, y}, {}, /*retain_graph=*/true);
  expect_values(grads[0], {2}, {6, 12});
  expect_values(grads[1], {1}, {5});
  EXPECT_FALSE(x.grad().defined());
  EXPECT_MG_ERROR(mg::autograd::grad({out}, {unused}, {}, true), "was not used");
  auto g = mg::autograd::grad({out}, {unused}, {}, true, /*allow_unused=*/true);
  EXPECT_FALSE(g[0].defined());
}

TEST(Engine, GradWithRespectToIntermediate) {
  auto x = mg::tensor({1.0, 2.0}).requires_grad_();
  auto h = x * 3;
  auto out = (h * h).sum();
  auto g = mg::autograd::grad({out}, {h});
  expect_values(g[0], {2}, {6, 12});
}

TEST(Engine, NoGradGuardRecordsNothing) {
  auto w = mg::ones({2}).requires_grad_();
  {
    mg::NoGradGuard guard;
    auto y = w * 2;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    EXPECT_FALSE(mg::GradMode::is_enabled());
  }
  EXPECT_TRUE(mg::GradMode::is_enabled());
  EXPECT_TRUE((w * 2).requires_grad());
}

TEST(Engine, DetachCutsTheGraph) {
  auto w = mg::tensor({2.0}).requires_grad_();
  auto d = (w * 3).detach();
  EXPECT_FALSE(d.requires_grad());
  auto loss = (d * w).sum();
  loss.backward();
  expect_values(w.grad(), {1}, {6});  // only the direct path
}

TEST(Engine, RetainGradKeepsIntermediateGradient) {
  auto x = mg::tensor({1.0, 2.0}).requires_grad_();
  auto h = x * 2;
  h.retain_grad();
  auto other = x * 5;  // not retained
  (h * h + other).sum().backward();
  expect_values(h.grad(), {2}, {4, 8});
  EXPECT_FALSE(other.grad().defined());
}

TEST(Engine, RequiresGradOnlyForFloatingLeaves) {
  EXPECT_MG_ERROR(mg::ones({2}, mg::kInt64).requires_grad_(), "only floating-point tensors");
  auto w = mg::ones({2}).requires_grad_();
  auto y = w * 2;
  EXPECT_MG_ERROR(y.requires_grad_(false), "non-leaf");
}

TEST(Engine, DeepGraphDoesNotOverflowTheStack) {
  auto x = mg::tensor({1.0}).requires_grad_();
  mg::Tensor y = x;
  for (int i = 0; i < 200000; ++i) y = y + 1.0;
  y.sum().backward();
  expect_values(x.grad(), {1}, {1});
  y = mg::Tensor();  // tearing the graph down must not recurse either
}

TEST(Engine, SavedTensorsAreFreedAfterBackward) {
  auto x = mg::randn({64}, mg::kFloat64).requires_grad_();
  std::weak_ptr<mg::Storage> saved_storage;
  mg::Tensor loss;
  {
    auto y = mg::exp(x);  // exp saves its output for backward
    saved_storage = y.storage();
    loss = y.sum();
  }
  EXPECT_FALSE(saved_storage.expired());  // held by the graph
  loss.backward();
  EXPECT_TRUE(saved_storage.expired());  // released once used
}

TEST(Engine, RetainGraphKeepsSavedTensors) {
  auto x = mg::randn({8}, mg::kFloat64).requires_grad_();
  std::weak_ptr<mg::Storage> saved_storage;
  mg::Tensor loss;
  {
    auto y = mg::exp(x);
    saved_storage = y.storage();
    loss = y.sum();
  }
  loss.backward({}, true);
  EXPECT_FALSE(saved_storage.expired());
  loss.backward();
  EXPECT_TRUE(saved_storage.expired());
}

TEST(Engine, InPlaceAfterSaveIsDetected) {
  auto w = mg::tensor({1.0, 2.0}).requires_grad_();
  auto a = mg::tensor({3.0, 4.0});
  auto y = (a * w).sum();  // saves a for w's gradient
  a.add_(1.0);
  EXPECT_MG_ERROR(y.backward(), "modified by an in-place operation");
}

TEST(Engine, InPlaceOnLeafRequiringGradIsAnError) {
  auto w = mg::ones({2}).requires_grad_();
  EXPECT_MG_ERROR(w.add_(1.0), "leaf tensor that requires grad");
  {
    mg::NoGradGuard guard;  // allowed for optimizer updates
    w.add_(1.0);
  }
  expect_values(w, {2}, {2, 2});
}

TEST(Engine, InPlaceOnIntermediateIsDifferentiated) {
  auto x = mg::tensor({1.0, 2.0}).requires_grad_();
  auto y = x * 3;
  const auto v0 = y.version();
  y.mul_(2.0);
  EXPECT_GT(y.version(), v0);
  y.add_(x);
  y.sum().backward();
  expect_values(x.grad(), {2}, {7, 7});
}

TEST(Engine, ViewGradientsAccumulateInPlaceIntoOneBuffer) {
  // 16 experts stored as one stacked weight and used one slice at a time.
  const int64_t experts = 16, n = 128;
  auto w = mg::randn({experts, n, n}).requires_grad_();
  mg::Tensor loss;
  for (int64_t e = 0; e < experts; ++e) {
    auto term = (w[e] * static_cast<double>(e + 1)).sum();
    loss = loss.defined() ? loss + term : term;
  }
  const std::size_t weight_bytes = experts * n * n * sizeof(float);
  mg::reset_peak_memory_stats();
  const std::size_t before = mg::memory_stats().allocated;
  loss.backward();
  const std::size_t peak = mg::memory_stats().peak_allocated - before;
  // One gradient buffer of the stacked weight plus per-slice temporaries; a zero-filled
  // full-size tensor per slice would need 16x the weight.
  EXPECT_LT(peak, 2 * weight_bytes);
  for (int64_t e = 0; e < experts; ++e)
    for (float v : w.grad()[e].to_vector<float>()) ASSERT_EQ(v, static_cast<float>(e + 1));
}

TEST(Engine, MultiOutputNodeReceivesUndefinedForUnusedOutputs) {
  auto x = mg::tensor({1.0, 2.0}).requires_grad_();
  mg::Tensor a, b;
  {
    mg::NoGradGuard guard;
    a = x * 2;
    b = x * 3;
  }
  bool second_was_undefined = false;
  mg::record("two_outputs", {a, b}, {x},
             [&](const std::vector<mg::Tensor>& grads, mg::InputGrads in) {
               second_was_undefined = !grads[1].defined();
               in[0].add(grads[0] * 2);
             });
  EXPECT_EQ(a.output_nr(), 0u);
  EXPECT_EQ(b.output_nr(), 1u);
  a.sum().backward();
  EXPECT_TRUE(second_was_undefined);
  expect_values(x.grad(), {2}, {2, 2});
}

TEST(Engine, ErrorInsideBackwardPropagates) {
  auto x = mg::tensor({1.0}).requires_grad_();
  mg::Tensor y;
  {
    mg::NoGradGuard guard;
    y = x * 1;
  }
  mg::record("broken", y, {x}, [](const mg::Tensor&, mg::InputGrads) {
    throw mg::Error("broken", "backward failed on purpose");
  });
  EXPECT_MG_ERROR(y.sum().backward(), "backward failed on purpose");
}

TEST(Engine, InPlaceOnAViewNobodyElseHolds) {
  auto x = mg::tensor({{1.0, 2.0}, {3.0, 4.0}}).requires_grad_();
  auto s = (x * 2).view({4});  // the base died: the view is the only tensor over its memory
  ASSERT_TRUE(s.is_view());
  s.mul_(3.0);
  s.sum().backward();
  expect_values(x.grad(), {2, 2}, {6, 6, 6, 6});
}

TEST(Engine, InPlaceOnSharedStorageWhileRecordingIsAnError) {
  auto x = mg::tensor({2.0, 1.0, 1.0}).requires_grad_();
  auto w = mg::tensor({3.0}).requires_grad_();
  auto y = x * 1;
  auto v = y.select(0, 0);  // a live view of y
  EXPECT_MG_ERROR(y.mul_(w), "shares storage with other tensors");
  EXPECT_MG_ERROR(v.add_(1.0 * w), "shares storage with other tensors");
}

TEST(Engine, InPlaceIntoOverlappingMemoryIsAnError) {
  auto x = mg::zeros({1, 4});
  EXPECT_MG_ERROR(x.expand({3, 4}).add_(1.0), "elements overlap");
}

TEST(Engine, ZeroThenAccumulateKeepsHistory) {
  auto x = mg::tensor({1.0, 2.0}).requires_grad_();
  auto h = x * 2;
  h.zero_();
  EXPECT_FALSE(h.is_leaf());
  h.add_(x * 3);
  h.sum().backward();
  expect_values(x.grad(), {2}, {3, 3});  // the zeroed value contributes nothing
  EXPECT_FALSE(h.grad().defined());
  auto ints = mg::zeros({2}, mg::kInt64);
  EXPECT_MG_ERROR(ints.add_(x),
                  "result type float64 can't be cast to the desired output type int64");
  EXPECT_MG_ERROR(ints.copy_(x), "into a int64 tensor");  // a copy may convert, but not a gradient
}

TEST(Engine, RetainGradFollowsInPlaceOps) {
  auto x = mg::tensor({1.0}).requires_grad_();
  auto y = x * 2;
  y.retain_grad();
  y.mul_(3.0);
  (y * y).sum().backward();
  expect_values(y.grad(), {1}, {12});  // d(y^2)/dy at y = 6
}

TEST(Engine, GradOfIntermediateLeavesTheRestOfTheGraph) {
  auto x = mg::tensor({1.0, 2.0}).requires_grad_();
  auto y = mg::exp(x);
  auto g = mg::autograd::grad({(y * 2).sum()}, {y});
  expect_values(g[0], {2}, {2, 2});
  (y * 3).sum().backward();  // exp's saved output is still there
  mg::testing::expect_close(x.grad(), mg::exp(x.detach()) * 3);
}

TEST(Engine, LeafGradientIsAdoptedNotCopied) {
  auto w = mg::randn({256, 256}).requires_grad_();
  auto x = mg::randn({8, 256});
  mg::matmul(x, w).sum().backward();  // warm the allocator
  w.zero_grad();
  auto loss = mg::matmul(x, w).sum();
  mg::reset_peak_memory_stats();
  const std::size_t before = mg::memory_stats().allocated;
  loss.backward();
  const std::size_t weight_bytes = 256 * 256 * sizeof(float);
  EXPECT_LT(mg::memory_stats().peak_allocated - before, weight_bytes + weight_bytes / 2);
}
