#include <memory>
#include <vector>

#include "common/test_util.h"

namespace mg = mixgrad;
using mg::Tensor;
using mg::testing::expect_values;

TEST(Hooks, LeafHookSeesGradientBeforeAccumulation) {
  auto w = mg::tensor({1.0, 2.0}).requires_grad_();
  std::vector<Tensor> seen;
  w.register_hook([&](const Tensor& g) {
    seen.push_back(g.clone());
    EXPECT_FALSE(w.grad().defined()) << "hook must run before accumulation into grad()";
    return Tensor();
  });
  (w * mg::tensor({3.0, 4.0})).sum().backward();
  ASSERT_EQ(seen.size(), 1u);
  expect_values(seen[0], {2}, {3, 4});
  expect_values(w.grad(), {2}, {3, 4});
}

TEST(Hooks, LeafHookReplacesGradientAndStaysForLaterPasses) {
  auto w = mg::tensor({1.0, 2.0}).requires_grad_();
  w.register_hook([](const Tensor& g) { return g * 10; });
  (w * 2).sum().backward();
  expect_values(w.grad(), {2}, {20, 20});
  (w * 3).sum().backward();  // accumulates the replaced gradient of the second pass
  expect_values(w.grad(), {2}, {50, 50});
}

TEST(Hooks, NonLeafHookReplacementChangesUpstreamGradients) {
  auto x = mg::tensor({1.0, 2.0, 3.0}).requires_grad_();
  auto y = x * x;
  Tensor seen;
  y.register_hook([&](const Tensor& g) {
    seen = g;
    return g * mg::tensor({1.0, 0.0, -1.0});
  });
  (y * mg::tensor({5.0, 6.0, 7.0})).sum().backward();
  expect_values(seen, {3}, {5, 6, 7});
  expect_values(x.grad(), {3}, {2 * 1 * 5, 0, -2 * 3 * 7});  // 2x * hooked gradient
}

TEST(Hooks, NonLeafHookRunsBeforeRetainGradStoresTheGradient) {
  auto x = mg::tensor({1.0, 2.0}).requires_grad_();
  auto y = x * 3;
  y.retain_grad();
  y.register_hook([](const Tensor& g) { return g + 1; });
  y.sum().backward();
  expect_values(y.grad(), {2}, {2, 2});
  expect_values(x.grad(), {2}, {6, 6});
}

TEST(Hooks, MultipleHooksRunInRegistrationOrderOnEachOthersResults) {
  auto x = mg::tensor({1.0}).requires_grad_();
  auto y = x * 2;
  std::vector<int> order;
  y.register_hook([&](const Tensor& g) {
    order.push_back(1);
    return g + 1;  // 1 -> 2
  });
  y.register_hook([&](const Tensor& g) {
    order.push_back(2);
    expect_values(g, {1}, {2});
    return Tensor();  // keeps 2
  });
  y.register_hook([&](const Tensor& g) {
    order.push_back(3);
    return g * 10;  // 2 -> 20
  });
  y.sum().backward();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  expect_values(x.grad(), {1}, {40});
}

TEST(Hooks, RemoveHookStopsItRunning) {
  auto w = mg::tensor({1.0}).requires_grad_();
  int calls_a = 0, calls_b = 0;
  const mg::HookId a = w.register_hook([&](const Tensor&) {
    ++calls_a;
    return Tensor();
  });
  const mg::HookId b = w.register_hook([&](const Tensor& g) {
    ++calls_b;
    return g * 2;
  });
  EXPECT_NE(a, b);
  (w * 1).sum().backward();
  EXPECT_TRUE(w.remove_hook(b));
  EXPECT_FALSE(w.remove_hook(b));  // already gone
  (w * 1).sum().backward();
  EXPECT_EQ(calls_a, 2);
  EXPECT_EQ(calls_b, 1);
  expect_values(w.grad(), {1}, {3});  // 2 (hooked) + 1

  auto y = w * 1;
  int calls_y = 0;
  const mg::HookId c = y.register_hook([&](const Tensor&) {
    ++calls_y;
    return Tensor();
  });
  EXPECT_FALSE(w.remove_hook(c));  // another tensor's hook
  EXPECT_TRUE(y.remove_hook(c));
  y.sum().backward();
  EXPECT_EQ(calls_y, 0);
}

TEST(Hooks, HookRemovingItselfWhileRunning) {
  auto w = mg::tensor({1.0}).requires_grad_();
  int calls = 0;
  auto id = std::make_shared<mg::HookId>();
  *id = w.register_hook([&, id](const Tensor& g) {
    ++calls;
    EXPECT_TRUE(w.remove_hook(*id));
    return g * 2;
  });
  (w * 1).sum().backward();
  (w * 1).sum().backward();
  EXPECT_EQ(calls, 1);
  expect_values(w.grad(), {1}, {3});
}

TEST(Hooks, TensorUsedTwiceSeesTheSummedGradientOnce) {
  auto x = mg::tensor({2.0}).requires_grad_();
  auto y = x * 1;
  std::vector<double> seen_y, seen_x;
  y.register_hook([&](const Tensor& g) {
    seen_y.push_back(g.item<double>());
    return Tensor();
  });
  x.register_hook([&](const Tensor& g) {
    seen_x.push_back(g.item<double>());
    return Tensor();
  });
  (y * 3 + y * y + x * 5).sum().backward();  // d/dy = 3 + 2y = 7; d/dx = 7 + 5
  EXPECT_EQ(seen_y, std::vector<double>{7});
  EXPECT_EQ(seen_x, std::vector<double>{12});
  expect_values(x.grad(), {1}, {12});
}

// A recorded op with two outputs (2x, 3x), so hooks on each output are keyed by output index.
std::vector<Tensor> twice_and_thrice(const Tensor& x) {
  Tensor a, b;
  {
    mg::NoGradGuard no_grad;
    a = x * 2;
    b = x * 3;
  }
  mg::record("twice_and_thrice", {a, b}, {x}, [](const std::vector<Tensor>& g, mg::InputGrads in) {
    if (g[0].defined()) in[0].add(g[0] * 2);
    if (g[1].defined()) in[0].add(g[1] * 3);
  });
  return {a, b};
}

TEST(Hooks, HookOnRootAndOnOneOutputOfAMultiOutputOp) {
  auto x = mg::tensor({1.0, 2.0}).requires_grad_();
  auto outs = twice_and_thrice(x);
  ASSERT_EQ(outs[1].output_nr(), 1u);
  outs[1].register_hook([](const Tensor& g) { return g * 100; });
  auto loss = (outs[0] + outs[1]).sum();
  loss.register_hook([](const Tensor& g) { return g * 2; });
  loss.backward();
  expect_values(x.grad(), {2}, {604, 604});  // 2 * (2 + 3 * 100)
}

TEST(Hooks, NonLeafHookSurvivesDroppedHandleAndStaysWithValueBeforeInPlace) {
  auto x = mg::tensor({1.0, 2.0}).requires_grad_();
  Tensor loss;
  {
    auto y = x * 2;  // the handle dies before backward; the hook lives on in the graph
    y.register_hook([](const Tensor& g) { return g * 3; });
    loss = y.sum();
  }
  loss.backward();
  expect_values(x.grad(), {2}, {6, 6});

  // A hook registered before an in-place op sees the gradient of the value before it.
  x.zero_grad();
  auto z = x * 1;
  std::vector<double> seen;
  const mg::HookId before = z.register_hook([&](const Tensor& g) {
    seen = g.to_vector<double>();
    return Tensor();
  });
  z.mul_(mg::tensor({5.0, 7.0}));
  z.sum().backward({}, /*retain_graph=*/true);
  EXPECT_EQ(seen, (std::vector<double>{5, 7}));
  EXPECT_TRUE(z.remove_hook(before));  // still found on the node it was registered on
  seen.clear();
  z.sum().backward();
  EXPECT_TRUE(seen.empty());
}

TEST(Hooks, WorksWithAutogradGradWithoutTouchingDotGrad) {
  auto x = mg::tensor({1.0, 2.0}).requires_grad_();
  auto y = x * x;
  y.register_hook([](const Tensor& g) { return g * 2; });
  x.register_hook([](const Tensor& g) { return g + 1; });
  auto grads = mg::autograd::grad({y.sum()}, {x, y});
  expect_values(grads[0], {2}, {2 * 2 * 1 + 1, 2 * 2 * 2 + 1});
  expect_values(grads[1], {2}, {2, 2});
  EXPECT_FALSE(x.grad().defined());
}

TEST(Hooks, AutogradGradSkipsHooksOnBranchesItDoesNotRun) {
  auto x = mg::tensor({1.0}).requires_grad_();
  auto w = mg::tensor({1.0}).requires_grad_();
  auto unrelated = w * 2;
  int calls = 0;
  unrelated.register_hook([&](const Tensor&) {
    ++calls;
    return Tensor();
  });
  auto g = mg::autograd::grad({(x * 3 + unrelated).sum()}, {x});
  expect_values(g[0], {1}, {3});
  EXPECT_EQ(calls, 0);
}

TEST(Hooks, WrongReplacementIsAnErrorNamingTheTensorShape) {
  auto x = mg::ones({2, 3}, mg::kFloat64).requires_grad_();
  auto y = x * 2;
  y.register_hook([](const Tensor&) { return mg::ones({3}, mg::kFloat64); });
  EXPECT_MG_ERROR(y.sum().backward(),
                  "hook registered on a tensor of shape [2, 3] returned a "
                  "gradient of shape [3]");
  auto w = mg::ones({2}, mg::kFloat64).requires_grad_();
  w.register_hook([](const Tensor& g) { return g.to(mg::kFloat32); });
  EXPECT_MG_ERROR(w.sum().backward(), "returned a float32 gradient");
}

TEST(Hooks, RegisteringOnTensorWithoutGradIsAnError) {
  auto x = mg::ones({2, 2});
  EXPECT_MG_ERROR(x.register_hook([](const Tensor& g) { return g; }),
                  "tensor of shape [2, 2] that does not require grad");
  auto w = mg::ones({2}).requires_grad_();
  EXPECT_MG_ERROR(w.register_hook(nullptr), "hook is empty");
  EXPECT_FALSE(x.remove_hook(12345));
}

TEST(Hooks, HookCapturingItsNonLeafTensorIsFreedWithTheGraph) {
  auto x = mg::tensor({1.0}).requires_grad_();
  std::weak_ptr<mg::TensorImpl> watch;
  {
    auto y = x * 2;
    watch = y.impl_ptr();
    y.register_hook([y](const Tensor&) { return Tensor(); });  // cycle y -> node -> hook -> y
    y.sum().backward();                                        // frees the graph and the hook
  }
  EXPECT_TRUE(watch.expired());
}

TEST(Hooks, GradientKeptByAHookIsNotReusedAsTheGradBuffer) {
  auto w = mg::tensor({1.0}).requires_grad_();
  std::vector<Tensor> kept;
  w.register_hook([&](const Tensor& g) {
    kept.push_back(g);
    return Tensor();
  });
  (w * 2).sum().backward();
  (w * 3).sum().backward();  // accumulates into grad() in place
  expect_values(w.grad(), {1}, {5});
  ASSERT_EQ(kept.size(), 2u);
  expect_values(kept[0], {1}, {2});
  expect_values(kept[1], {1}, {3});
}

TEST(QueueCallback, RunsAfterEveryNodeInQueueOrder) {
  auto a = mg::tensor({1.0, 2.0}).requires_grad_();
  auto b = mg::tensor({3.0}).requires_grad_();
  std::vector<std::string> events;
  // `a`'s hook runs before `b` is accumulated; the callbacks must wait for both.
  a.register_hook([&](const Tensor& g) {
    events.push_back("hook a");
    mg::autograd::queue_callback([&] {
      events.push_back(b.grad().defined() && a.grad().defined() ? "first, after all" : "early");
      mg::autograd::queue_callback([&] { events.push_back("queued by a callback"); });
    });
    mg::autograd::queue_callback([&] { events.push_back("second"); });
    return g;
  });
  ((a * 2).sum() + (b * 3).sum()).backward();
  EXPECT_EQ(events, (std::vector<std::string>{"hook a", "first, after all", "second",
                                              "queued by a callback"}));
  // The queue belongs to one pass: the next backward starts empty.
  events.clear();
  auto c = mg::tensor({1.0}).requires_grad_();
  (c * 2).sum().backward();
  EXPECT_TRUE(events.empty());
}

TEST(QueueCallback, OutsideABackwardPassIsAnError) {
  EXPECT_MG_ERROR(mg::autograd::queue_callback([] {}), "no backward pass is running");
  // Also after a pass whose callback threw: the pass's queue is gone.
  auto a = mg::tensor({1.0}).requires_grad_();
  a.register_hook([](const Tensor& g) {
    mg::autograd::queue_callback([] { throw mg::Error("test", "callback failed"); });
    return g;
  });
  EXPECT_MG_ERROR((a * 2).sum().backward(), "callback failed");
  EXPECT_MG_ERROR(mg::autograd::queue_callback([] {}), "no backward pass is running");
}

TEST(CurrentPass, TellsPassesApartAndWhetherTheyAccumulate) {
  EXPECT_EQ(mg::autograd::current_pass().id, 0u);
  auto a = mg::tensor({1.0, 2.0}).requires_grad_();
  std::vector<mg::autograd::PassInfo> seen;
  a.register_hook([&](const Tensor& g) {
    seen.push_back(mg::autograd::current_pass());
    return g;
  });
  (a * 2).sum().backward();
  (a * 3).sum().backward();
  mg::autograd::grad({(a * 4).sum()}, {a});
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_NE(seen[0].id, 0u);
  EXPECT_NE(seen[0].id, seen[1].id);
  EXPECT_TRUE(seen[0].accumulates && seen[1].accumulates);
  EXPECT_FALSE(seen[2].accumulates);
  EXPECT_EQ(mg::autograd::current_pass().id, 0u);
}
