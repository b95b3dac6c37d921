#pragma once
// E feed-forward experts with stacked weights, run on the rows each expert received: two
// grouped matrix products for the whole layer, however many experts there are.
#include "models/activation.h"
#include "models/experts.h"
#include "ops/creation.h"

namespace mixgrad::models {

struct FFNExpertsOptions {
  int64_t num_experts = 0;
  int64_t d_model = 0;
  int64_t hidden = 0;
  Activation activation = Activation::GELU;
  bool bias = true;
  TensorOptions tensor_options = {};
};

class FFNExperts : public Experts {
 public:
  // w1 [E, d, h], w2 [E, h, d] (x @ W layout), biases [E, h] and [E, d]; with a gated activation
  // (SwiGLU) w1 is [E, d, 2h] and b1 [E, 2h], the gate's columns first. Each expert initialised
  // independently like a PyTorch Linear (uniform in +-1/sqrt(fan_in)). Throws Error for
  // non-positive sizes.
  explicit FFNExperts(FFNExpertsOptions options);
  // rows [R, d] sorted by expert, counts int64 [E] (CPU) summing to R -> [R, d]:
  // act(rows_e @ w1[e] + b1[e]) @ w2[e] + b2[e] for each expert's rows.
  Tensor forward(const Tensor& rows, const Tensor& counts) override;
  Tensor expert(int64_t e, const Tensor& x) override;
  int64_t num_experts() const override { return options_.num_experts; }
  // Copies of the stacked weights of experts [first, first + count).
  std::shared_ptr<Experts> shard(int64_t first, int64_t count) const override;
  std::string extra_repr() const override;
  const FFNExpertsOptions& options() const { return options_; }

  Tensor w1, b1, w2, b2;

 private:
  struct Uninitialised {};
  FFNExperts(FFNExpertsOptions options, Uninitialised);
  FFNExpertsOptions options_;
};

}  // namespace mixgrad::models
