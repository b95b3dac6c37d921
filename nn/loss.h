#pragma once
// Losses as modules: each holds its options and forwards to the functional of the same name in
// ops/functional.h (use those directly if you prefer). Call as loss(input, target).
#include <string>

#include "nn/module.h"
#include "ops/functional.h"

namespace mixgrad::nn {

class Loss : public Module {
 public:
  explicit Loss(Reduction reduction) : reduction_(reduction) {}
  // compute() with the forward hooks around it (inputs {input, target}).
  Tensor operator()(const Tensor& input, const Tensor& target);
  std::string extra_repr() const override;
  Reduction reduction() const { return reduction_; }

 protected:
  virtual Tensor compute(const Tensor& input, const Tensor& target) = 0;
  Reduction reduction_;
};

class MSELoss : public Loss {
 public:
  explicit MSELoss(Reduction reduction = Reduction::Mean) : Loss(reduction) {}

 protected:
  Tensor compute(const Tensor& input, const Tensor& target) override;
};

class L1Loss : public Loss {
 public:
  explicit L1Loss(Reduction reduction = Reduction::Mean) : Loss(reduction) {}

 protected:
  Tensor compute(const Tensor& input, const Tensor& target) override;
};

// Quadratic below |input - target| = beta, linear above.
class SmoothL1Loss : public Loss {
 public:
  explicit SmoothL1Loss(Reduction reduction = Reduction::Mean, double beta = 1.0)
      : Loss(reduction), beta_(beta) {}
  std::string extra_repr() const override;

 protected:
  Tensor compute(const Tensor& input, const Tensor& target) override;

 private:
  double beta_;
};

// input: logits [N, C]; target: class indices [N].
class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(Reduction reduction = Reduction::Mean, double label_smoothing = 0.0,
                            int64_t ignore_index = -100)
      : Loss(reduction), label_smoothing_(label_smoothing), ignore_index_(ignore_index) {}
  std::string extra_repr() const override;

 protected:
  Tensor compute(const Tensor& input, const Tensor& target) override;

 private:
  double label_smoothing_;
  int64_t ignore_index_;
};

// input: log-probabilities [N, C]; target: class indices [N].
class NLLLoss : public Loss {
 public:
  explicit NLLLoss(Reduction reduction = Reduction::Mean, int64_t ignore_index = -100)
      : Loss(reduction), ignore_index_(ignore_index) {}

 protected:
  Tensor compute(const Tensor& input, const Tensor& target) override;

 private:
  int64_t ignore_index_;
};

// input: logits; target: probabilities of the positive class, same shape. `pos_weight`
// (optional, broadcast over the last dim) weighs positive examples.
class BCEWithLogitsLoss : public Loss {
 public:
  explicit BCEWithLogitsLoss(Reduction reduction = Reduction::Mean, Tensor pos_weight = {});

 protected:
  Tensor compute(const Tensor& input, const Tensor& target) override;

 private:
  Tensor pos_weight_;
};

}  // namespace mixgrad::nn
