#pragma once
// Adam and AdamW with torch.optim's updates (bias-corrected moments, eps outside the square
// root). For step t of a parameter:
//   g = grad (+ weight_decay * p for Adam's L2 decay)
//   m = beta1 * m + (1 - beta1) * g          v = beta2 * v + (1 - beta2) * g^2
//   v_max = max(v_max, v) with amsgrad, used in place of v below
//   p = p - decay * p                        (AdamW: decay = lr * weight_decay)
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// AdamW is Adam with the decoupled decay; AdamWR (adamwr.h) rescales both terms per step.
#include "optim/optimizer.h"

namespace mixgrad::optim {

// Defaults for every group (each may override lr, beta1, beta2, eps and weight_decay).
struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  // Unset: 0 for Adam, 1e-2 for AdamW (PyTorch's defaults), 1e-5 for AdamWR.
  std::optional<double> weight_decay = std::nullopt;
  bool amsgrad = false;  // keep the running maximum of v (Reddi et al.)
};

class Adam : public Optimizer {
 public:
  // Throws Error for bad parameters or hyperparameters (see Optimizer).
  explicit Adam(std::vector<Tensor> params, AdamOptions options = {});
  explicit Adam(std::vector<ParamGroup> groups, AdamOptions options = {});

  bool amsgrad() const { return amsgrad_; }

 protected:
  enum class WeightDecay { L2, Decoupled };
  Adam(std::string name, std::vector<ParamGroup> groups, const AdamOptions& options,
       double default_weight_decay, WeightDecay mode);

  // One group's step sizes: p = (1 - decay) * p - lr * m_hat / (sqrt(v_hat) + eps).
  struct StepScales {
    double lr;
    double decay;
  };
  // Adam: {lr, 0} (its decay goes into the gradient); AdamW: {lr, lr * weight_decay}.
  virtual StepScales step_scales(const ParamGroup& group) const;

  void update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& state) final;
  std::map<std::string, std::string> config() const override;

 private:
  WeightDecay mode_;
  bool amsgrad_;
};

// Adam with decoupled weight decay (Loshchilov & Hutter): p = p - lr * weight_decay * p instead
// of adding weight_decay * p to the gradient.
class AdamW : public Adam {
 public:
  explicit AdamW(std::vector<Tensor> params, AdamOptions options = {});
  explicit AdamW(std::vector<ParamGroup> groups, AdamOptions options = {});

 protected:
  AdamW(std::string name, std::vector<ParamGroup> groups, const AdamOptions& options,
        double default_weight_decay);
};

}  // namespace mixgrad::optim
