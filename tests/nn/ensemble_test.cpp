// stack_modules / unstack_into: a stacked ensemble against the loop over its members (outputs,
// every gradient, training then copying back), its kernel cost and its errors.
#include "nn/ensemble.h"

#include <gtest/gtest.h>

#include "common/kernel_counter.h"
#include "common/test_util.h"
#include "mixgrad.h"
#include "nn/batch_norm.h"
#include "nn/nn.h"

namespace mixgrad::nn {
namespace {

using mixgrad::testing::CallCounter;
using mixgrad::testing::expect_close;
using Members = std::vector<std::shared_ptr<Module>>;

constexpr int64_t kIn = 12, kOut = 5, kBatch = 3;

// The MLP of the issue: four Linear layers with three different activations.
std::shared_ptr<Module> make_mlp() {
  return std::make_shared<Sequential>(std::make_shared<Linear>(kIn, 16), std::make_shared<ReLU>(),
                                      std::make_shared<Linear>(16, 16), std::make_shared<Tanh>(),
                                      std::make_shared<Linear>(16, 16), std::make_shared<GELU>(),
                                      std::make_shared<Linear>(16, kOut));
}

// `n` float64 MLPs, each initialised differently.
Members make_members(int64_t n, uint64_t seed = 7) {
  DefaultDtypeGuard f64(kFloat64);
  manual_seed(seed);
  Members members;
  for (int64_t i = 0; i < n; ++i) members.push_back(make_mlp());
  return members;
}

Tensor random(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return randn(shape, kFloat64, &gen);
}

// Member i's output for input `x` (shared) or x[i] (per member), stacked over the members.
Tensor loop_over(const Members& members, const Tensor& x, bool per_member) {
  std::vector<Tensor> outputs;
  for (std::size_t i = 0; i < members.size(); ++i)
    outputs.push_back((*members[i])(per_member ? x.select(0, static_cast<int64_t>(i)) : x));
  return stack(outputs, 0);
}

std::vector<std::string> names_of(const NamedTensors& named) {
  std::vector<std::string> names;
  for (const auto& [name, t] : named) names.push_back(name);
  return names;
}

TEST(StackModules, ParametersAreStackedCopiesUnderTheMembersNames) {
  Members members = make_members(4);
  auto stacked = stack_modules(members);
  EXPECT_EQ(names_of(stacked->named_parameters()), names_of(members[0]->named_parameters()));
  EXPECT_EQ(stacked->find_tensor("0.weight").shape(), (Shape{4, 16, kIn}));
  EXPECT_EQ(stacked->find_tensor("0.bias").shape(), (Shape{4, 16}));
  EXPECT_EQ(stacked->find_tensor("6.weight").shape(), (Shape{4, kOut, 16}));
  for (const auto& [name, t] : stacked->named_parameters()) {
    EXPECT_TRUE(t.requires_grad()) << name;
    for (int64_t i = 0; i < 4; ++i)
      expect_close(t.select(0, i), members[i]->find_tensor(name), 0, 0);
  }
  // Copies, not views: changing the stacked weights leaves the members alone.
  const Tensor before = members[2]->find_tensor("2.bias").clone();
  {
    NoGradGuard no_grad;
    stacked->find_tensor("2.bias").detach().fill_(0.25);
  }
  expect_close(members[2]->find_tensor("2.bias"), before, 0, 0);
  EXPECT_EQ(stacked->num_members(), 4);
  EXPECT_EQ(stacked->member_type(), "Sequential");
  EXPECT_EQ(stacked->stacked_children().size(), 7u);
  EXPECT_EQ(stacked->stacked_children()[2]->path(), "2");
  EXPECT_EQ(stacked->stacked_children()[2]->layer_name(), "layer '2' (Linear)");
}

class StackedMlp : public ::testing::TestWithParam<int64_t> {};

TEST_P(StackedMlp, OutputsEqualTheLoopOverMembers) {
  const int64_t n = GetParam();
  Members members = make_members(n);
  auto stacked = stack_modules(members);
  const Tensor shared = random({kBatch, kIn}, 1);
  const Tensor per_member = random({n, kBatch, kIn}, 2);
  const Tensor y_shared = (*stacked)(shared);
  EXPECT_EQ(y_shared.shape(), (Shape{n, kBatch, kOut}));
  expect_close(y_shared, loop_over(members, shared, false), 1e-13, 1e-12);
  expect_close((*stacked)(per_member), loop_over(members, per_member, true), 1e-13, 1e-12);
}

// The same loss through the stacked module and through the loop: every parameter's gradient
// slice and the input's gradient agree.
TEST_P(StackedMlp, GradientsEqualTheMembersGradients) {
  const int64_t n = GetParam();
  for (bool per_member : {false, true}) {
    SCOPED_TRACE(per_member ? "one input per member" : "shared input");
    Members members = make_members(n);
    auto stacked = stack_modules(members);
    const Tensor x = per_member ? random({n, kBatch, kIn}, 3) : random({kBatch, kIn}, 3);
    const Tensor loss_weights = random({n, kBatch, kOut}, 4);
    const Tensor x_stacked = x.clone().requires_grad_(), x_loop = x.clone().requires_grad_();
    sum((*stacked)(x_stacked).square() * loss_weights).backward();
    sum(loop_over(members, x_loop, per_member).square() * loss_weights).backward();
    for (const auto& [name, t] : stacked->named_parameters()) {
      ASSERT_TRUE(t.grad().defined()) << name;
      for (int64_t i = 0; i < n; ++i) {
        SCOPED_TRACE(name + " of member " + std::to_string(i));
        expect_close(t.grad().select(0, i), members[i]->find_tensor(name).grad(), 1e-10, 0);
      }
    }
    expect_close(x_stacked.grad(), x_loop.grad(), 1e-10, 0);
  }
}

TEST_P(StackedMlp, UnstackIntoAfterTrainingReproducesTheStackedOutputs) {
  const int64_t n = GetParam();
  Members members = make_members(n);
  auto stacked = stack_modules(members);
  const Tensor x = random({kBatch, kIn}, 5), target = random({n, kBatch, kOut}, 6);
  const Tensor initial = (*stacked)(x).detach();
  optim::SGD sgd(stacked->parameters(), {.lr = 0.1});
  for (int step = 0; step < 3; ++step) {
    sgd.zero_grad();
    mse_loss((*stacked)(x), target).backward();
    sgd.step();
  }
  const Tensor trained = (*stacked)(x).detach();
  EXPECT_GT(max(abs(trained - initial)).item<double>(), 1e-3);  // training changed something
  unstack_into(*stacked, members);
  expect_close(loop_over(members, x, false), trained, 1e-13, 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Members, StackedMlp, ::testing::Values(4, 8));

TEST(StackModules, RunsOneGemmPerLinearLayerAndCopiesNoWeight) {
  Members members = make_members(8);
  auto stacked = stack_modules(members);
  for (const Tensor& x : {random({kBatch, kIn}, 1), random({8, kBatch, kIn}, 2)}) {
    CallCounter<kernels::gemm> gemm;
    CallCounter<kernels::copy> copy;
    (*stacked)(x);
    EXPECT_EQ(gemm.calls(), 4);
    // The only copies are the four biases broadcast into the outputs that the GEMMs add to:
    // neither the transposed weights nor a shared input are materialised.
    EXPECT_EQ(copy.calls(), 4);
  }
}

// Every built-in element-wise layer, a Linear without bias, Dropout in eval mode, and members
// whose inputs have two batch dims ([B, T, in]).
TEST(StackModules, SupportsEveryBuiltInLayerAndExtraBatchDims) {
  DefaultDtypeGuard f64(kFloat64);
  manual_seed(3);
  Members members;
  for (int i = 0; i < 3; ++i) {
    members.push_back(std::make_shared<Sequential>(
        std::make_shared<Linear>(6, 4, false), std::make_shared<Softplus>(2.0, 1.0),
        std::make_shared<Linear>(4, 4), std::make_shared<LeakyReLU>(0.2),
        std::make_shared<ELU>(0.5), std::make_shared<Sigmoid>(), std::make_shared<Identity>(),
        std::make_shared<Linear>(4, 3), std::make_shared<GELU>("tanh"), std::make_shared<Flatten>(),
        std::make_shared<Dropout>(0.3)));
    members.back()->eval();
  }
  auto stacked = stack_modules(members, 3);
  EXPECT_FALSE(stacked->is_training());  // member 0's mode
  EXPECT_EQ(names_of(stacked->named_parameters()),
            (std::vector<std::string>{"0.weight", "2.weight", "2.bias", "7.weight", "7.bias"}));
  const Tensor shared = random({2, 5, 6}, 8), per_member = random({3, 2, 5, 6}, 9);
  EXPECT_EQ((*stacked)(shared).shape(), (Shape{3, 2, 15}));  // Flatten of each member's [5, 3]
  expect_close((*stacked)(shared), loop_over(members, shared, false), 1e-13, 1e-12);
  expect_close((*stacked)(per_member), loop_over(members, per_member, true), 1e-13, 1e-12);
}

// In training mode the stacked Dropout zeroes elements and doubles the rest (p = 0.5); in eval
// mode it is the identity. The stacked module's own mode decides, not the members'.
TEST(StackModules, FollowsItsOwnTrainingMode) {
  DefaultDtypeGuard f64(kFloat64);
  Members members;
  for (int i = 0; i < 2; ++i)
    members.push_back(
        std::make_shared<Sequential>(std::make_shared<Linear>(4, 64), std::make_shared<Dropout>()));
  auto stacked = stack_modules(members);
  EXPECT_TRUE(stacked->is_training());
  const Tensor x = random({8, 4}, 10);
  stacked->eval();
  const std::vector<double> plain = (*stacked)(x).to_vector<double>();
  for (const auto& m : members) m->eval();
  expect_close((*stacked)(x), loop_over(members, x, false), 1e-13, 1e-12);
  stacked->train();  // members stay in eval mode
  EXPECT_TRUE(stacked->stacked_children()[1]->is_training());
  const std::vector<double> dropped = (*stacked)(x).to_vector<double>();
  int zeros = 0;
  for (std::size_t i = 0; i < plain.size(); ++i) {
    if (dropped[i] == 0) {
      ++zeros;
    } else {
      EXPECT_NEAR(dropped[i], 2 * plain[i], 1e-12) << "element " << i;
    }
  }
  // 1024 elements, each dropped with probability 0.5: far from 0 and from all of them.
  EXPECT_GT(zeros, 400);
  EXPECT_LT(zeros, 624);
}

TEST(StackModules, PrintsTheMembersTreeWithStackedShapes) {
  DefaultDtypeGuard f64(kFloat64);
  Members members;
  for (int i = 0; i < 2; ++i)
    members.push_back(
        std::make_shared<Sequential>(std::make_shared<Linear>(3, 2), std::make_shared<ReLU>()));
  auto stacked = stack_modules(members);
  EXPECT_EQ(stacked->to_string(),
            "StackedModules(\n"
            "  members=2, module=Sequential\n"
            "  (0): Linear(in_features=3, out_features=2, bias=true) "
            "{weight: float64[2, 2, 3], bias: float64[2, 2]}\n"
            "  (1): ReLU()\n"
            ")\n"
            "16 parameters");
  auto single = stack_modules({std::make_shared<LeakyReLU>(0.5)});
  EXPECT_EQ(single->to_string(),
            "StackedModules(members=1, module=LeakyReLU, negative_slope=0.5)\n"
            "0 parameters");
}

TEST(StackModules, StateDictHasTheMembersNamesWithStackedShapes) {
  Members members = make_members(4);
  auto stacked = stack_modules(members);
  NamedTensors state = stacked->state_dict();
  EXPECT_EQ(names_of(state), names_of(members[0]->state_dict()));
  // A state dict of other values loads back and changes the outputs accordingly.
  auto other = stack_modules(make_members(4, 99));
  stacked->load_state_dict(other->state_dict());
  const Tensor x = random({kBatch, kIn}, 11);
  expect_close((*stacked)(x), (*other)(x), 0, 0);
}

// A layer type of the user's, registered with its batched form.
class Scale : public Module {
 public:
  explicit Scale(int64_t features) {
    scale = register_parameter("scale", ones({features}, kFloat64));
  }
  Tensor forward(const Tensor& x) override { return x * scale; }
  Tensor scale;
};

TEST(StackModules, StacksARegisteredUserLayer) {
  Members members;
  for (int i = 0; i < 3; ++i) members.push_back(std::make_shared<Scale>(2));
  EXPECT_FALSE(has_stacked_form(*members[0]));
  EXPECT_MG_ERROR(stack_modules(members),
                  "the top-level module is a Scale, which has no batched form");
  register_stacked_form<Scale>([](const Scale&) -> StackedForward {
    return [](StackedModules& layer, const Tensor& x) {
      return x * layer.stacked_parameter("scale").unsqueeze(1);  // [N, 2] -> [N, 1, 2]
    };
  });
  EXPECT_TRUE(has_stacked_form(*members[0]));
  auto stacked = stack_modules(members);
  {
    NoGradGuard no_grad;
    stacked->find_tensor("scale").detach().copy_(tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}));
  }
  mixgrad::testing::expect_values((*stacked)(tensor({{1.0, -1.0}})), {3, 1, 2},
                                  {1, -2, 3, -4, 5, -6});
  unstack_into(*stacked, members);
  mixgrad::testing::expect_values(std::static_pointer_cast<Scale>(members[1])->scale, {2}, {3, 4});
}

TEST(StackModules, RejectsMembersThatDiffer) {
  DefaultDtypeGuard f64(kFloat64);
  EXPECT_MG_ERROR(stack_modules({}), "stack_modules: needs at least one module");
  EXPECT_MG_ERROR(stack_modules({make_mlp(), nullptr}), "module 1 is null");
  EXPECT_MG_ERROR(stack_modules({make_mlp()}, 0), "member_input_dim must be at least 1, got 0");
  auto mlp = [](int64_t in, std::shared_ptr<Module> activation, bool bias = true) {
    return std::make_shared<Sequential>(std::make_shared<Linear>(in, 4, bias),
                                        std::move(activation), std::make_shared<Linear>(4, 2));
  };
  auto relu = [] { return std::make_shared<ReLU>(); };
  EXPECT_MG_ERROR(stack_modules({mlp(3, relu()), mlp(3, relu()), mlp(3, std::make_shared<Tanh>())}),
                  "stack_modules: member 2 differs from member 0: layer '1' is a Tanh, expected a "
                  "ReLU");
  EXPECT_MG_ERROR(stack_modules({mlp(3, relu()), mlp(5, relu())}),
                  "member 1 differs from member 0: layer '0' (Linear) has options "
                  "'in_features=5, out_features=4, bias=true', expected 'in_features=3, "
                  "out_features=4, bias=true'");
  EXPECT_MG_ERROR(
      stack_modules(
          {mlp(3, std::make_shared<LeakyReLU>(0.1)), mlp(3, std::make_shared<LeakyReLU>(0.2))}),
      "layer '1' (LeakyReLU) has options 'negative_slope=0.2', expected 'negative_slope=0.1'");
  EXPECT_MG_ERROR(stack_modules({mlp(3, relu()), mlp(3, relu(), false)}), "bias=false");
  // Same options (Scale shows none), different shapes.
  EXPECT_MG_ERROR(stack_modules({std::make_shared<Scale>(2), std::make_shared<Scale>(3)}),
                  "member 1 differs from member 0: parameter 'scale' has shape [3], expected [2]");
  auto frozen = mlp(3, relu());
  frozen->find_tensor("0.bias").requires_grad_(false);
  EXPECT_MG_ERROR(stack_modules({mlp(3, relu()), frozen}),
                  "parameter '0.bias' is frozen, expected it to require grad");
  auto shorter = std::make_shared<Sequential>(std::make_shared<Linear>(3, 4), relu());
  EXPECT_MG_ERROR(stack_modules({mlp(3, relu()), shorter}),
                  "the top-level Sequential has submodules [0, 1], expected [0, 1, 2]");
  auto hooked = mlp(3, relu());
  (*hooked)[1]->register_forward_hook(
      [](Module&, const std::vector<Tensor>&, std::vector<Tensor>&) {});
  EXPECT_MG_ERROR(stack_modules({mlp(3, relu()), hooked}),
                  "layer '1' of member 1 has forward hooks");
}

TEST(StackModules, RejectsLayersWithoutABatchedForm) {
  DefaultDtypeGuard f64(kFloat64);
  auto with_norm = [] {
    return std::make_shared<Sequential>(std::make_shared<Linear>(3, 4), std::make_shared<ReLU>(),
                                        std::make_shared<BatchNorm1d>(4));
  };
  EXPECT_MG_ERROR(stack_modules({with_norm(), with_norm()}),
                  "stack_modules: layer '2' is a BatchNorm1d, which has no batched form");
  auto nested = [&] {
    return std::make_shared<Sequential>(std::make_shared<Sequential>(with_norm()));
  };
  EXPECT_MG_ERROR(stack_modules({nested()}), "layer '0.0.2' is a BatchNorm1d");
  EXPECT_MG_ERROR(stack_modules({std::make_shared<ModuleList>()}),
                  "the top-level module is a ModuleList, which has no batched form");
}

TEST(StackModules, RejectsInputsOfTheWrongShape) {
  Members members = make_members(4);
  auto stacked = stack_modules(members);
  EXPECT_MG_ERROR((*stacked)(random({kBatch, 10}, 1)),
                  "StackedModules: layer '0' (Linear) expects input [4, batch..., 12], got "
                  "float64[4, 3, 10]");
  EXPECT_MG_ERROR((*stacked)(random({3, kBatch, kIn}, 1)),
                  "StackedModules: expected an input of 2 dims (shared by all 4 members) or of 3 "
                  "dims with leading dim 4 (one per member), got float64[3, 3, 12]");
  EXPECT_MG_ERROR((*stacked)(random({kIn}, 1)), "expected an input of 2 dims");
  EXPECT_MG_ERROR((*stacked->stacked_children()[0])(random({2, kBatch, kIn}, 1)),
                  "StackedModules: layer '0' (Linear) expects input [4, ...], got");
  EXPECT_MG_ERROR(stacked->stacked_parameter("weight"),
                  "the top-level Sequential has no parameter 'weight'");
}

TEST(UnstackInto, ChecksCountAndStructureAndWritesNothingOnError) {
  Members members = make_members(4);
  auto stacked = stack_modules(members);
  {
    NoGradGuard no_grad;
    for (const Tensor& p : stacked->parameters()) p.detach().fill_(0.5);
  }
  const Tensor before = members[0]->find_tensor("0.weight").clone();
  EXPECT_MG_ERROR(unstack_into(*stacked, make_members(3)),
                  "unstack_into: the stacked modules have 4 members, got 3 modules");
  Members with_null = members;
  with_null[3] = nullptr;
  EXPECT_MG_ERROR(unstack_into(*stacked, with_null), "module 3 is null");
  Members mixed = members;
  mixed[2] = std::make_shared<Sequential>(std::make_shared<Linear>(kIn, 16));
  EXPECT_MG_ERROR(unstack_into(*stacked, mixed),
                  "unstack_into: module 2 does not match the stacked modules: the top-level "
                  "Sequential has submodules [0], expected [0, 1, 2, 3, 4, 5, 6]");
  EXPECT_MG_ERROR(unstack_into(*members[0], members),
                  "unstack_into: expected a StackedModules (from stack_modules), got a Sequential");
  EXPECT_MG_ERROR(unstack_into(*stacked->stacked_children()[0], members),
                  "module 0 does not match the stacked modules: layer '0' is a Sequential, "
                  "expected a Linear");
  expect_close(members[0]->find_tensor("0.weight"), before, 0, 0);  // nothing was written
}

}  // namespace
}  // namespace mixgrad::nn
