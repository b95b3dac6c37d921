#include <functional>
#include <memory>

#include "optim/optim_test_util.h"

namespace mg = mixgrad;
namespace optim = mixgrad::optim;
using mg::Tensor;
using mg::optim::OptimizerState;
using mg::optim::testing::expect_same_state;
using mg::optim::testing::param;
using mg::optim::testing::set_grad;
using mg::testing::expect_values;

namespace {

// Two parameters (a matrix and a vector) with seeded values.
std::vector<Tensor> make_params(uint64_t seed) {
  mg::Generator gen(seed);
  return {mg::randn({3, 2}, {}, &gen).requires_grad_(), mg::randn({2}, {}, &gen).requires_grad_()};
}

std::vector<Tensor> copies(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const Tensor& p : params) out.push_back(p.detach().clone().requires_grad_());
  return out;
}

// Gradients of a loss that depends on the parameters, so trajectories depend on every bit.
void backward(const std::vector<Tensor>& p, int step) {
  Tensor x = mg::tensor({{1.0f, -0.5f, 0.25f}}) * static_cast<float>(step + 1);
  Tensor y = mg::tanh(mg::matmul(x, p[0]) + p[1]);
  (y * y).sum().backward();
}

void train(optim::Optimizer& opt, const std::vector<Tensor>& params, int from, int to) {
  for (int s = from; s < to; ++s) {
    opt.zero_grad();
    backward(params, s);
    opt.step();
  }
}

using Factory = std::function<std::unique_ptr<optim::Optimizer>(const std::vector<Tensor>&)>;

// Trains 3 steps, restores a fresh optimizer over copies of the parameters from the state, and
// checks both continue identically, bit for bit.
void expect_identical_continuation(const Factory& make) {
  std::vector<Tensor> a = make_params(7);
  auto first = make(a);
  train(*first, a, 0, 3);
  const OptimizerState saved = first->state_dict();

  std::vector<Tensor> b = copies(a);
  auto second = make(b);
  second->set_lr(0.5);  // overwritten by the load
  second->load_state_dict(saved);
  expect_same_state(second->state_dict(), saved);
  EXPECT_EQ(second->lr(), first->lr());
  train(*first, a, 3, 6);
  train(*second, b, 3, 6);
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i].to_vector<float>(), b[i].to_vector<float>()) << "parameter " << i;
  expect_same_state(first->state_dict(), second->state_dict());
}

}  // namespace

TEST(StateDict, SGDWithNesterovMomentumContinuesIdentically) {
  expect_identical_continuation([](const std::vector<Tensor>& p) {
    return std::make_unique<optim::SGD>(
        p, optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
  });
}

TEST(StateDict, AdamWithAmsgradContinuesIdentically) {
  expect_identical_continuation([](const std::vector<Tensor>& p) {
    return std::make_unique<optim::Adam>(
        p, optim::AdamOptions{.lr = 0.05, .weight_decay = 0.01, .amsgrad = true});
  });
}

TEST(StateDict, AdamWContinuesIdentically) {
  expect_identical_continuation([](const std::vector<Tensor>& p) {
    return std::make_unique<optim::AdamW>(p, optim::AdamOptions{.lr = 0.05});
  });
}

TEST(StateDict, AdamWRContinuesIdenticallyWhetherStepsOrTheCallerDriveTheSchedule) {
  expect_identical_continuation([](const std::vector<Tensor>& p) {
    return std::make_unique<optim::AdamWR>(
        p, optim::AdamWROptions{.adam = {.lr = 0.05}, .t0 = 1, .t_mult = 2, .steps_per_epoch = 2});
  });
  // Caller-driven: the position is part of the state.
  std::vector<Tensor> a = make_params(3);
  optim::AdamWR first(a, {.adam = {.lr = 0.05}, .t0 = 2, .t_mult = 2});
  first.set_epoch(1.25);
  train(first, a, 0, 2);
  const OptimizerState saved = first.state_dict();
  std::vector<Tensor> b = copies(a);
  optim::AdamWR second(b, {.adam = {.lr = 0.05}, .t0 = 2, .t_mult = 2});
  EXPECT_EQ(saved.scalars.at("schedule.epoch"), "1.25");
  second.load_state_dict(saved);
  EXPECT_EQ(second.epoch(), 1.25);
  train(first, a, 2, 4);
  train(second, b, 2, 4);
  EXPECT_EQ(a[0].to_vector<float>(), b[0].to_vector<float>());
}

TEST(StateDict, NamesAndExactScalars) {
  Tensor p = param({1.0, 2.0}), q = param({3.0});
  optim::Adam opt({{.params = {p}}, {.params = {q}, .lr = 0.1 + 0.2}}, {.eps = 1e-8});
  set_grad(p, {1.0, 1.0});
  opt.step();
  const OptimizerState s = opt.state_dict();
  EXPECT_EQ(s.scalars.at("optimizer"), "Adam");
  EXPECT_EQ(s.scalars.at("step"), "1");
  EXPECT_EQ(s.scalars.at("config.amsgrad"), "0");
  EXPECT_EQ(s.scalars.at("group.0.params"), "1");
  EXPECT_EQ(s.scalars.at("group.0.lr"), "0.001");
  EXPECT_EQ(s.scalars.at("group.0.eps"), "1e-08");
  EXPECT_EQ(s.scalars.at("group.1.lr"), "0.30000000000000004");  // shortest exact form
  EXPECT_EQ(s.scalars.at("state.0.0.step"), "1");
  EXPECT_FALSE(s.scalars.count("state.1.0.step"));  // q never had a gradient
  EXPECT_FALSE(s.scalars.count("group.0.momentum"));
  ASSERT_EQ(s.tensors.size(), 2u);
  EXPECT_EQ(s.tensors[0].first, "state.0.0.exp_avg");
  EXPECT_EQ(s.tensors[1].first, "state.0.0.exp_avg_sq");
  // The values round-trip exactly through their text.
  Tensor r = param({0.0});
  optim::Adam restored({{.params = {param({0.0, 0.0})}}, {.params = {r}}});
  restored.load_state_dict(s);
  EXPECT_EQ(restored.lr(1), 0.1 + 0.2);
  EXPECT_EQ(restored.param_groups()[0].eps, 1e-8);
  for (double lr : {1.0 / 3, 5e-324, 1.7976931348623157e308, 123456789.125, 0.0}) {
    opt.set_lr(1, lr);
    restored.load_state_dict(opt.state_dict());
    EXPECT_EQ(restored.lr(1), lr);
  }
}

TEST(StateDict, IsASnapshotAndLoadCopies) {
  Tensor p = param({1.0});
  optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9});
  set_grad(p, {1.0});
  opt.step();
  const OptimizerState s = opt.state_dict();
  opt.step();  // the buffer moves on; the snapshot does not
  expect_values(s.tensors[0].second, {1}, {1.0});
  Tensor q = param({1.0});
  optim::SGD other({q}, {.lr = 0.1, .momentum = 0.9});
  other.load_state_dict(s);
  s.tensors[0].second.detach().fill_(5.0);
  expect_values(other.param_state(0, 0).buffers[0], {1}, {1.0});
}

namespace {

// An Adam optimizer with state, and a valid snapshot of it to corrupt.
struct LoadFixture {
  Tensor p = param({1.0, 2.0});
  Tensor q = param({3.0});
  optim::Adam opt{std::vector<Tensor>{p, q}, {.lr = 0.1}};
  OptimizerState valid;
  LoadFixture() {
    set_grad(p, {1.0, -1.0});
    set_grad(q, {0.5});
    opt.step();
    valid = opt.state_dict();
  }
  // Loading `bad` fails with a message containing `expected` and changes nothing.
  void expect_rejected(const OptimizerState& bad, const std::string& expected) {
    const OptimizerState before = opt.state_dict();
    EXPECT_MG_ERROR(opt.load_state_dict(bad), expected);
    expect_same_state(opt.state_dict(), before);
  }
};

}  // namespace

TEST(StateDict, LoadRejectsMismatchesAndLeavesTheOptimizerUnchanged) {
  LoadFixture f;
  OptimizerState s = f.valid;
  s.tensors[0].first = "state.0.0.exp_avgx";
  f.expect_rejected(s, "unknown tensor 'state.0.0.exp_avgx'");

  s = f.valid;
  s.tensors[0].second = mg::zeros({3}, mg::kFloat64);
  f.expect_rejected(s,
                    "tensor 'state.0.0.exp_avg' is float64[3] on cpu but group 0 parameter 0 "
                    "is float64[2] on cpu");

  s = f.valid;
  s.tensors[1].second = s.tensors[1].second.to(mg::kFloat32);
  f.expect_rejected(s, "tensor 'state.0.0.exp_avg_sq' is float32[2]");

  s = f.valid;
  s.tensors.emplace_back("state.0.5.exp_avg", mg::zeros({2}, mg::kFloat64));
  f.expect_rejected(s, "'state.0.5.exp_avg' names no parameter of this optimizer");

  s = f.valid;
  s.tensors.pop_back();  // q's exp_avg_sq
  f.expect_rejected(s, "missing tensor 'state.0.1.exp_avg_sq'");

  s = f.valid;
  s.tensors.push_back(s.tensors[0]);
  f.expect_rejected(s, "tensor 'state.0.0.exp_avg' is given twice");

  s = f.valid;
  s.scalars.erase("state.0.1.step");
  f.expect_rejected(s, "tensor 'state.0.1.exp_avg' belongs to a parameter without");
}

TEST(StateDict, LoadRejectsBadScalars) {
  LoadFixture f;
  OptimizerState s = f.valid;
  s.scalars["group.0.lr"] = "0.1x";
  f.expect_rejected(s, "'group.0.lr' = '0.1x' is not a number");

  s = f.valid;
  s.scalars["group.0.beta1"] = "1.5";
  f.expect_rejected(s, "group 0: beta1 = 1.5 must be in [0, 1)");

  s = f.valid;
  s.scalars["step"] = "-3";
  f.expect_rejected(s, "'step' = '-3' is not an integer >= 0");

  s = f.valid;
  s.scalars.erase("step");
  f.expect_rejected(s, "missing scalar 'step'");

  s = f.valid;
  s.scalars.erase("group.0.eps");
  f.expect_rejected(s, "missing scalar 'group.0.eps'");

  s = f.valid;
  s.scalars["group.0.momentum"] = "0.9";
  f.expect_rejected(s, "unknown scalar 'group.0.momentum'");

  s = f.valid;
  s.scalars["group.0.params"] = "3";
  f.expect_rejected(s, "'group.0.params' = '3' but group 0 has 2 parameters");

  s = f.valid;
  s.scalars["group.1.params"] = "1";
  f.expect_rejected(s, "the state has 2 parameter groups, this optimizer 1");

  s = f.valid;
  s.scalars["config.amsgrad"] = "1";
  f.expect_rejected(s, "'config.amsgrad' is '1' in the state but '0' in this optimizer");

  s = f.valid;
  s.scalars["optimizer"] = "SGD";
  f.expect_rejected(s, "the state is from SGD, not Adam");

  s = f.valid;
  s.scalars["schedule.epoch"] = "1";
  f.expect_rejected(s, "unknown scalar 'schedule.epoch'");
}

TEST(StateDict, OneErrorListsEveryProblem) {
  LoadFixture f;
  OptimizerState s = f.valid;
  s.scalars["group.0.lr"] = "fast";
  s.tensors[0].second = mg::zeros({5}, mg::kFloat64);
  try {
    f.opt.load_state_dict(s);
    ADD_FAILURE() << "expected an error";
  } catch (const mg::Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("Adam.load_state_dict: 2 problems: ", 0), 0u) << m;
    EXPECT_NE(m.find("'group.0.lr' = 'fast'"), std::string::npos) << m;
    EXPECT_NE(m.find("float64[5]"), std::string::npos) << m;
  }
}

TEST(StateDict, StateOfAnotherKindIsRejectedEvenBeforeAnyStep) {
  Tensor p = param({1.0});
  optim::SGD sgd({p});
  optim::Adam adam({param({1.0})});
  EXPECT_MG_ERROR(adam.load_state_dict(sgd.state_dict()), "the state is from SGD, not Adam");
  optim::Adam amsgrad({param({1.0})}, {.amsgrad = true});
  EXPECT_MG_ERROR(amsgrad.load_state_dict(adam.state_dict()), "'config.amsgrad'");
}
