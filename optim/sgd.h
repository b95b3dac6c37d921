#pragma once
// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
// with torch.optim.SGD's exact update:
//   d = grad + weight_decay * p
//   buf = d                                   (first update of the parameter)
//   buf = momentum * buf + (1 - dampening) * d  (later ones)
//   d = nesterov ? d + momentum * buf : buf    (when momentum != 0)
//   p = p - lr * d
#include "optim/optimizer.h"

namespace mixgrad::optim {

// Defaults for every group (each may override lr, momentum, dampening and weight_decay).
struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;  // needs momentum > 0 and dampening == 0 in every group
};

class SGD final : public Optimizer {
 public:
  // Throws Error for bad parameters or hyperparameters (see Optimizer) and for Nesterov
  // momentum in a group whose momentum is 0 or dampening is not 0.
  explicit SGD(std::vector<Tensor> params, SGDOptions options = {});
  explicit SGD(std::vector<ParamGroup> groups, SGDOptions options = {});

  bool nesterov() const { return nesterov_; }

 protected:
  void update(const ParamGroup& group, Tensor& param, const Tensor& grad,
              ParamState& state) override;
  void check_group(const ParamGroup& group, const std::string& where,
                   std::vector<std::string>& problems) const override;
  std::map<std::string, std::string> config() const override;

 private:
  bool nesterov_;
};

}  // namespace mixgrad::optim
