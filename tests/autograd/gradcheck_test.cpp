#include "common/test_util.h"

namespace mg = mixgrad;

namespace {
// y = x^2 with a deliberately wrong backward (3x instead of 2x).
mg::Tensor wrong_square(const mg::Tensor& x) {
  mg::Tensor y;
  {
    mg::NoGradGuard guard;
    y = x * x;
  }
  mg::record("wrong_square", y, {x}, [sx = mg::save(x)](const mg::Tensor& g, mg::InputGrads in) {
    in[0].add(g * sx.get() * 3);
  });
  return y;
}
}  // namespace

TEST(Gradcheck, PassesForCorrectGradients) {
  auto a = mg::testing::grad_input({3, 2}, 1);
  auto b = mg::testing::grad_input({2}, 2);
  auto r = mg::gradcheck([](const std::vector<mg::Tensor>& in) { return in[0] * in[1] + in[0]; },
                         {a, b});
  EXPECT_TRUE(r.ok) << r;
  EXPECT_FALSE(a.grad().defined());  // gradcheck does not touch .grad
}

TEST(Gradcheck, DetectsAWrongBackward) {
  auto x = mg::testing::grad_input({4}, 3);
  auto r =
      mg::gradcheck([](const std::vector<mg::Tensor>& in) { return wrong_square(in[0]); }, {x});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("analytic"), std::string::npos);
}

TEST(Gradcheck, RequiresFloat64Inputs) {
  auto x = mg::randn({2}).requires_grad_();
  EXPECT_MG_ERROR(mg::gradcheck([](const std::vector<mg::Tensor>& in) { return in[0] * 2; }, {x}),
                  "must be float64");
}

TEST(Gradcheck, MultipleOutputs) {
  auto x = mg::testing::grad_input({3}, 4);
  auto r = mg::gradcheck(
      [](const std::vector<mg::Tensor>& in) {
        return std::vector<mg::Tensor>{in[0] * 2, mg::exp(in[0])};
      },
      {x});
  EXPECT_TRUE(r.ok) << r;
}
