#include <gtest/gtest.h>

#include "common/test_util.h"
#include "mixgrad.h"
#include "nn/nn.h"

namespace mixgrad::nn {
namespace {

using mixgrad::testing::expect_values;

// Two experts in a ModuleList, a Linear held by value and one by shared pointer, a buffer.
struct TinyMoE : Module {
  Linear gate{3, 2};
  std::shared_ptr<ModuleList> experts = register_module(
      "experts", std::make_shared<ModuleList>(std::make_shared<Linear>(3, 4),
                                              std::make_shared<Linear>(3, 4, false)));
  Tensor steps = register_buffer("steps", zeros({1}, kInt64));
  TinyMoE() { register_module("gate", gate); }
  Tensor forward(const Tensor& x) override {
    Tensor w = softmax(gate(x), -1);
    return (*(*experts)[0])(x)*w.narrow(-1, 0, 1) + (*(*experts)[1])(x)*w.narrow(-1, 1, 1);
  }
};

std::vector<std::string> names_of(const NamedTensors& named) {
  std::vector<std::string> names;
  for (const auto& [name, t] : named) names.push_back(name);
  return names;
}

TEST(Module, NamesAreDottedAndInRegistrationOrder) {
  TinyMoE m;
  EXPECT_EQ(names_of(m.named_parameters()),
            (std::vector<std::string>{"experts.0.weight", "experts.0.bias", "experts.1.weight",
                                      "gate.weight", "gate.bias"}));
  EXPECT_EQ(names_of(m.named_parameters(false)), std::vector<std::string>{});
  EXPECT_EQ(names_of(m.named_buffers()), std::vector<std::string>{"steps"});
  EXPECT_EQ(names_of(m.state_dict()),
            (std::vector<std::string>{"experts.0.weight", "experts.0.bias", "experts.1.weight",
                                      "gate.weight", "gate.bias", "steps"}));
  std::vector<std::string> modules;
  for (auto& [name, module] : m.named_modules()) modules.push_back(name);
  EXPECT_EQ(modules, (std::vector<std::string>{"", "experts", "experts.0", "experts.1", "gate"}));
  EXPECT_EQ(m.num_parameters(), 12 + 4 + 12 + 6 + 2);
  EXPECT_TRUE(m.find_tensor("experts.1.weight").is_same(m.experts->at<Linear>(1)->weight));
  EXPECT_MG_ERROR(m.find_tensor("experts.1.bias"), "no parameter or buffer named");
}

TEST(Module, RegisteredHandlesShareTheRegistryTensor) {
  Linear fc(2, 3);
  EXPECT_TRUE(fc.named_parameters()[0].second.is_same(fc.weight));
  EXPECT_TRUE(fc.weight.requires_grad());
  EXPECT_TRUE(fc.weight.is_leaf());
}

TEST(Module, ReplaceModuleKeepsTheNameAndPlace) {
  TinyMoE m;
  auto wider = std::make_shared<ModuleList>(std::make_shared<Linear>(3, 4));
  EXPECT_EQ(m.replace_module("experts", wider), wider);
  EXPECT_EQ(
      names_of(m.named_parameters()),
      (std::vector<std::string>{"experts.0.weight", "experts.0.bias", "gate.weight", "gate.bias"}));
  EXPECT_MG_ERROR(m.replace_module("nothing", wider), "no submodule is registered as 'nothing'");
  EXPECT_MG_ERROR(m.replace_module("experts", nullptr), "is null");
  auto outer = std::make_shared<ModuleList>(std::make_shared<Linear>(1, 1));
  auto inner = std::make_shared<ModuleList>(outer);
  EXPECT_MG_ERROR(outer->replace_module("0", inner), "cannot have cycles");
}

TEST(Module, RegistrationErrors) {
  Module m;
  m.register_parameter("w", zeros({2}));
  EXPECT_MG_ERROR(m.register_parameter("w", zeros({2})), "already registered");
  EXPECT_MG_ERROR(m.register_buffer("w", zeros({2})), "already registered");
  EXPECT_MG_ERROR(m.register_parameter("a.b", zeros({2})), "must not contain '.'");
  EXPECT_MG_ERROR(m.register_parameter("", zeros({2})), "must not be empty");
  EXPECT_MG_ERROR(m.register_parameter("i", zeros({2}, kInt64)), "floating-point");
  EXPECT_MG_ERROR(m.register_parameter("u", Tensor()), "undefined");
  Tensor leaf = ones({2}).requires_grad_();
  EXPECT_MG_ERROR(m.register_parameter("nonleaf", leaf * 2), "grad_fn");
  EXPECT_MG_ERROR(m.register_module("m", std::shared_ptr<Linear>()), "null");
  EXPECT_MG_ERROR(m(zeros({2})), "does not take a single tensor");
}

TEST(Module, PrintsTheTreeWithShapes) {
  TinyMoE m;
  EXPECT_EQ(m.to_string(),
            "TinyMoE(\n"
            "  steps: int64[1] (buffer)\n"
            "  (experts): ModuleList(\n"
            "    (0): Linear(in_features=3, out_features=4, bias=true) {weight: float32[4, 3], "
            "bias: float32[4]}\n"
            "    (1): Linear(in_features=3, out_features=4, bias=false) {weight: float32[4, 3]}\n"
            "  )\n"
            "  (gate): Linear(in_features=3, out_features=2, bias=true) {weight: float32[2, 3], "
            "bias: float32[2]}\n"
            ")\n"
            "36 parameters");
  m.gate.bias.requires_grad_(false);
  EXPECT_NE(m.to_string().find("bias: float32[2] (frozen)"), std::string::npos);
  EXPECT_NE(m.to_string().find("36 parameters (34 trainable)"), std::string::npos);
  std::ostringstream os;
  os << Dropout(0.25);
  EXPECT_EQ(os.str(), "Dropout(p=0.25)\n0 parameters");
}

TEST(Module, TrainEvalIsRecursiveAndSwitchesDropout) {
  auto drop = std::make_shared<Dropout>(0.5);
  Sequential seq(std::make_shared<Linear>(4, 4), drop);
  EXPECT_TRUE(drop->is_training());
  seq.eval();
  EXPECT_FALSE(seq.is_training());
  EXPECT_FALSE(drop->is_training());
  Tensor x = ones({8, 4});
  expect_values((*drop)(x), {8, 4}, std::vector<double>(32, 1.0));
  seq.train();
  EXPECT_TRUE(drop->is_training());
  Tensor y = (*drop)(x);
  std::vector<double> v = y.to_vector<double>();
  for (double e : v) EXPECT_TRUE(e == 0.0 || e == 2.0) << e;
}

TEST(Module, ToDtypeConvertsInPlaceForEveryHandle) {
  TinyMoE m;
  Tensor held = m.gate.weight;  // e.g. an optimizer's handle
  std::vector<double> before = held.to_vector<double>();
  m.gate(ones({1, 3})).sum().backward();
  m.to(kFloat64);
  EXPECT_EQ(held.dtype(), DType::Float64);
  EXPECT_EQ(m.gate.weight.dtype(), DType::Float64);
  EXPECT_EQ(m.gate.weight.grad().dtype(), DType::Float64);
  EXPECT_EQ(held.to_vector<double>(), before);  // float32 values are exact in float64
  EXPECT_TRUE(held.requires_grad());
  EXPECT_EQ(m.find_tensor("steps").dtype(), DType::Int64);  // integer buffers stay
  Tensor out = m(ones({5, 3}, kFloat64));
  EXPECT_EQ(out.dtype(), DType::Float64);
  EXPECT_MG_ERROR(m.to(kInt32), "floating dtypes only");
  m.to(Device::cpu());
  EXPECT_TRUE(held.is_same(m.gate.weight));
}

TEST(Module, ZeroGradClearsEveryParameter) {
  TinyMoE m;
  m(ones({2, 3})).sum().backward();
  for (const Tensor& p : m.parameters()) EXPECT_TRUE(p.grad().defined());
  m.zero_grad();
  for (const Tensor& p : m.parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Module, ForwardHooksFireAndCanRewrite) {
  Linear fc(2, 2, false);
  {
    NoGradGuard no_grad;
    fc.weight.copy_(tensor({{1.f, 0.f}, {0.f, 1.f}}));
  }
  std::vector<std::string> calls;
  HookId pre = fc.register_forward_pre_hook([&](Module& m, std::vector<Tensor>& in) {
    calls.push_back("pre " + m.type_name());
    in[0] = in[0] * 2;
  });
  HookId post = fc.register_forward_hook(
      [&](Module&, const std::vector<Tensor>& in, std::vector<Tensor>& out) {
        calls.push_back("post");
        expect_values(in[0], {1, 2}, {2, 4});
        out[0] = out[0] + 1;
      });
  expect_values(fc(tensor({{1.f, 2.f}})), {1, 2}, {3, 5});
  EXPECT_EQ(calls, (std::vector<std::string>{"pre Linear", "post"}));
  fc.remove_hook(pre);
  fc.remove_hook(post);
  EXPECT_FALSE(fc.has_forward_hooks());
  expect_values(fc(tensor({{1.f, 2.f}})), {1, 2}, {1, 2});
  EXPECT_MG_ERROR(fc.remove_hook(pre), "no hook with id");
}

TEST(Module, HooksOnChildrenFireInsideSequential) {
  auto relu = std::make_shared<ReLU>();
  Sequential seq(std::make_shared<Identity>(), relu);
  int fired = 0;
  relu->register_forward_hook([&](Module&, const std::vector<Tensor>&, std::vector<Tensor>& out) {
    ++fired;
    expect_values(out[0], {2}, {0, 3});
  });
  expect_values(seq(tensor({-1.f, 3.f})), {2}, {0, 3});
  EXPECT_EQ(fired, 1);
}

TEST(Module, LoadStateDictCopiesOrReportsEveryMismatch) {
  TinyMoE a, b;
  b.load_state_dict(a.state_dict());
  for (const auto& [name, t] : a.state_dict()) {
    EXPECT_EQ(b.find_tensor(name).to_vector<double>(), t.to_vector<double>()) << name;
  }
  NamedTensors bad = a.state_dict();
  bad[0].second = zeros({5, 3});          // shape
  bad[1].second = zeros({4}, kFloat64);   // dtype
  bad.erase(bad.begin() + 3);             // missing gate.weight
  bad.emplace_back("extra", zeros({1}));  // unexpected
  TinyMoE c;
  std::vector<double> before = c.experts->at<Linear>(1)->weight.to_vector<double>();
  try {
    c.load_state_dict(bad);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("4 mismatch(es), nothing was loaded"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'experts.0.weight' has shape [5, 3], the module expects [4, 3]"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("'experts.0.bias' has dtype float64"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing 'gate.weight'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected 'extra'"), std::string::npos) << msg;
  }
  // experts.1.weight matched but nothing may be written when anything mismatches.
  EXPECT_EQ(c.experts->at<Linear>(1)->weight.to_vector<double>(), before);
  // Non-strict loading ignores missing and unexpected names, never shape errors.
  NamedTensors partial{{"gate.bias", ones({2})}, {"other", ones({1})}};
  c.load_state_dict(partial, false);
  expect_values(c.gate.bias, {2}, {1, 1});
}

TEST(Module, ApplyVisitsEveryModule) {
  TinyMoE m;
  int count = 0;
  m.apply([&](Module&) { ++count; });
  EXPECT_EQ(count, 5);
}

TEST(Module, GradientsReachEveryParameter) {
  TinyMoE m;
  Generator gen(3);
  m(randn({6, 3}, {}, &gen)).square().sum().backward();
  for (const auto& [name, p] : m.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_GT(p.grad().abs().sum().item<double>(), 0.0) << name;
  }
}

TEST(Module, ToDtypeWithALiveGraphGivesGradientsOfTheNewDtype) {
  Linear fc(2, 2);
  Tensor kept = fc(ones({1, 2})).sum();  // holds the parameters' old gradient nodes
  fc.to(kFloat64);
  fc(ones({1, 2}, kFloat64)).sum().backward();
  EXPECT_EQ(fc.weight.grad().dtype(), DType::Float64);
  fc.to(kFloat64);  // no-op: same dtype keeps the same storage
  EXPECT_EQ(fc.weight.grad().dtype(), DType::Float64);
}

TEST(Module, SharedModulesAndTiedWeightsAppearOnce) {
  auto shared = std::make_shared<Linear>(2, 2);
  Module m;
  m.register_module("a", shared);
  m.register_module("b", shared);
  EXPECT_EQ(names_of(m.named_parameters()), (std::vector<std::string>{"a.weight", "a.bias"}));
  EXPECT_EQ(m.num_parameters(), 6);
  EXPECT_EQ(names_of(m.state_dict()),
            (std::vector<std::string>{"a.weight", "a.bias", "b.weight", "b.bias"}));
  EXPECT_EQ(m.named_modules().size(), 2u);
  int visits = 0;
  m.apply([&](Module&) { ++visits; });
  EXPECT_EQ(visits, 2);
  // state_dict entries are detached data.
  EXPECT_FALSE(m.state_dict()[0].second.requires_grad());
}

TEST(Module, CyclesAreRefused) {
  auto outer = std::make_shared<Sequential>();
  auto inner = std::make_shared<Sequential>();
  outer->push_back(inner);
  EXPECT_MG_ERROR(inner->push_back(outer), "cannot have cycles");
  EXPECT_MG_ERROR(outer->register_module("self", outer), "cannot have cycles");
}

TEST(Module, ChildrenHeldByValueStayAliveThroughTheirParent) {
  std::shared_ptr<Module> child;
  std::weak_ptr<TinyMoE> parent_alive;
  {
    auto parent = std::make_shared<TinyMoE>();
    parent_alive = parent;
    for (auto& [name, c] : parent->named_children()) {
      if (name == "gate") child = c;
    }
  }
  EXPECT_FALSE(parent_alive.expired());  // the child's pointer keeps its parent
  EXPECT_EQ(child->type_name(), "Linear");
  child.reset();
  EXPECT_TRUE(parent_alive.expired());
}

TEST(Module, ParameterAndBufferFlags) {
  Module m;
  Tensor frozen = m.register_parameter("frozen", ones({2}).requires_grad_(), false);
  EXPECT_FALSE(frozen.requires_grad());
  EXPECT_EQ(m.num_parameters(true), 0);
  Tensor x = ones({2}).requires_grad_();
  EXPECT_MG_ERROR(m.register_buffer("graph", x * 2), "grad_fn");
  m.register_buffer("scratch", zeros({3}), false);
  EXPECT_EQ(names_of(m.named_buffers()), std::vector<std::string>{"scratch"});
  EXPECT_EQ(names_of(m.state_dict()), std::vector<std::string>{"frozen"});
}

}  // namespace
}  // namespace mixgrad::nn
