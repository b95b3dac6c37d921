// Behaviour every optimizer shares (implemented once in Optimizer), exercised through SGD/Adam.
#include "optim/optim_test_util.h"

namespace mg = mixgrad;
namespace optim = mixgrad::optim;
using mg::Tensor;
using mg::optim::testing::param;
using mg::optim::testing::set_grad;
using mg::testing::expect_values;

TEST(Optimizer, RejectsBadParameterLists) {
  Tensor p = param({1.0}), q = param({2.0});
  EXPECT_MG_ERROR(optim::SGD(std::vector<Tensor>{}), "SGD: got an empty parameter list");
  EXPECT_MG_ERROR(optim::Adam(std::vector<optim::ParamGroup>{{.params = {}}}),
                  "Adam: got an empty parameter list");
  EXPECT_MG_ERROR(optim::SGD({mg::tensor({1, 2})}),
                  "group 0 parameter 0 is int32[2] on cpu; only floating-point tensors");
  EXPECT_MG_ERROR(optim::SGD({p, Tensor()}), "group 0 parameter 1 is an undefined tensor");
  EXPECT_MG_ERROR(optim::SGD({p, q, p}), "group 0 parameter 2 appears more than once");
  EXPECT_MG_ERROR(optim::Adam({{.params = {p}}, {.params = {q, p}}}),
                  "group 1 parameter 1 appears more than once");
  EXPECT_MG_ERROR(optim::SGD({p * 2}), "is not a leaf");
  EXPECT_MG_ERROR(optim::SGD({mg::zeros({1}, mg::kFloat64).expand({3})}), "overlap in memory");
}

TEST(Optimizer, RejectsBadLearningRatesAndListsEveryProblem) {
  Tensor p = param({1.0}), q = param({2.0});
  EXPECT_MG_ERROR(optim::SGD({p}, {.lr = -0.1}),
                  "SGD: group 0: lr = -0.1 must be a finite number >= 0");
  EXPECT_MG_ERROR(optim::Adam({p}, {.lr = std::nan("")}), "lr = nan");
  try {
    optim::SGD({{.params = {p}, .lr = -1.0}, {.params = {q, q}, .momentum = -1.0}});
    ADD_FAILURE() << "expected an error";
  } catch (const mg::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("3 problems"), std::string::npos) << m;
    EXPECT_NE(m.find("group 0: lr = -1"), std::string::npos) << m;
    EXPECT_NE(m.find("group 1 parameter 1 appears more than once"), std::string::npos) << m;
    EXPECT_NE(m.find("group 1: momentum = -1"), std::string::npos) << m;
  }
}

TEST(Optimizer, LrAccessorsAndSetters) {
  Tensor p = param({1.0}), q = param({2.0});
  optim::SGD opt({{.params = {p}}, {.params = {q}, .lr = 0.5}}, {.lr = 0.1});
  EXPECT_EQ(opt.lr(), 0.1);
  EXPECT_EQ(opt.lr(1), 0.5);
  opt.set_lr(1, 0.25);
  EXPECT_EQ(opt.lr(1), 0.25);
  EXPECT_EQ(opt.lr(0), 0.1);
  opt.set_lr(0.01);
  EXPECT_EQ(opt.lr(0), 0.01);
  EXPECT_EQ(opt.lr(1), 0.01);
  EXPECT_MG_ERROR(opt.lr(2), "SGD.lr: group 2 out of range for 2 groups");
  EXPECT_MG_ERROR(opt.set_lr(-1.0), "SGD.set_lr: lr = -1 must be a finite number >= 0");
  EXPECT_MG_ERROR(opt.set_lr(5, 0.1), "group 5 out of range");
  EXPECT_EQ(opt.lr(0), 0.01);
}

TEST(Optimizer, ZeroGradDropsOrZeroesGradients) {
  Tensor p = param({1.0, 2.0}), q = param({3.0});
  optim::SGD opt({p, q});
  (p * p).sum().backward();
  opt.zero_grad();  // set_to_none: PyTorch's default
  EXPECT_FALSE(p.grad().defined());
  EXPECT_FALSE(q.grad().defined());
  (p * p).sum().backward();
  Tensor g = p.grad();
  opt.zero_grad(/*set_to_none=*/false);
  ASSERT_TRUE(p.grad().defined());
  EXPECT_TRUE(p.grad().is_same(g));  // the same buffer, filled with zeros
  expect_values(p.grad(), {2}, {0.0, 0.0});
  EXPECT_FALSE(q.grad().defined());
  // An expanded gradient (set by hand) cannot be zeroed in place; it is replaced.
  q.set_grad(mg::ones({1}, mg::kFloat64).expand({1}));
  p.set_grad(mg::ones({1}, mg::kFloat64).expand({2}));
  opt.zero_grad(false);
  expect_values(p.grad(), {2}, {0.0, 0.0});
  expect_values(q.grad(), {1}, {0.0});
}

TEST(Optimizer, StepWritesLeavesInPlaceWithoutRecording) {
  Tensor p = param({1.0, 2.0});
  const auto storage = p.storage();
  optim::Adam opt({p}, {.lr = 0.1});
  (p * p).sum().backward();
  const uint64_t version = p.version();
  opt.step();
  EXPECT_TRUE(p.storage() == storage);  // updated in place
  EXPECT_GT(p.version(), version);
  EXPECT_TRUE(p.is_leaf());
  EXPECT_TRUE(p.requires_grad());
  EXPECT_TRUE(mg::GradMode::is_enabled());  // restored after the step
  // The parameter still trains: a new graph reaches it.
  opt.zero_grad();
  (p * p).sum().backward();
  EXPECT_TRUE(p.grad().defined());
}

TEST(Optimizer, SkipsParametersWithoutGradient) {
  Tensor p = param({1.0}), q = param({2.0});
  optim::SGD opt({p, q}, {.lr = 0.1, .momentum = 0.9});
  set_grad(p, {1.0});
  opt.step();
  expect_values(p, {1}, {0.9}, 1e-15);
  expect_values(q, {1}, {2.0});
  EXPECT_EQ(opt.param_state(0, 1).step, 0);
  EXPECT_MG_ERROR(opt.param_state(0, 2), "SGD.param_state: no parameter 2 in group 0");
}

TEST(Optimizer, BadGradientsStopTheStepBeforeAnyUpdate) {
  Tensor p = param({1.0}), q = param({2.0, 3.0});
  optim::SGD opt({p, q}, {.lr = 0.1});
  set_grad(p, {1.0});
  q.set_grad(mg::tensor({1.0f, 1.0f}));  // float32 gradient for a float64 parameter
  EXPECT_MG_ERROR(opt.step(),
                  "SGD.step: group 0 parameter 1: gradient float32[2] on cpu does not "
                  "match the parameter, float64[2] on cpu");
  expect_values(p, {1}, {1.0});  // p came first and was not touched
  EXPECT_EQ(opt.step_count(), 0);
  EXPECT_EQ(opt.param_state(0, 0).step, 0);
}

TEST(Optimizer, HyperparametersEditedOutOfRangeStopTheStep) {
  Tensor p = param({1.0});
  optim::SGD opt({p}, {.lr = 0.1});
  opt.param_groups()[0].lr = -0.5;
  set_grad(p, {1.0});
  EXPECT_MG_ERROR(opt.step(), "SGD.step: group 0: lr = -0.5 must be a finite number >= 0");
  opt.param_groups()[0].lr.reset();
  EXPECT_MG_ERROR(opt.step(), "group 0: lr is unset");
  expect_values(p, {1}, {1.0});
}

TEST(Optimizer, ParameterListsChangeOnlyThroughAddParamGroup) {
  Tensor p = param({1.0}), q = param({2.0});
  optim::SGD opt({p}, {.lr = 0.1});
  opt.param_groups()[0].params.push_back(q);
  set_grad(p, {1.0});
  EXPECT_MG_ERROR(opt.step(), "the parameters of group 0 were edited after construction");
  opt.param_groups()[0].params.pop_back();
  opt.param_groups().push_back({.params = {q}, .lr = 0.1});
  EXPECT_MG_ERROR(opt.step(), "the number of parameter groups changed from 1 to 2");
  opt.param_groups().pop_back();

  opt.add_param_group({.params = {q}, .momentum = 0.5});
  EXPECT_EQ(opt.param_groups().size(), 2u);
  EXPECT_EQ(opt.lr(1), 0.1);  // defaults fill the new group
  EXPECT_EQ(opt.param_groups()[1].momentum, 0.5);
  EXPECT_MG_ERROR(opt.add_param_group({.params = {p}}),
                  "SGD.add_param_group: group 2 parameter 0 appears more than once");
  EXPECT_MG_ERROR(opt.add_param_group({.params = {param({0.0})}, .beta1 = 0.9}),
                  "beta1 is not a hyperparameter of SGD");
  EXPECT_EQ(opt.param_groups().size(), 2u);
  set_grad(q, {1.0});
  opt.step();
  expect_values(q, {1}, {1.9}, 1e-15);
}
