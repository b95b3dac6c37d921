#include "optim/sgd.h"

#include "ops/copy.h"
#include "ops/elementwise.h"

namespace mixgrad::optim {

namespace {

constexpr size_t kMomentumBuffer = 0;

ParamGroup sgd_defaults(const SGDOptions& o) {
  ParamGroup d;
  d.lr = o.lr;
  d.momentum = o.momentum;
  d.dampening = o.dampening;
  d.weight_decay = o.weight_decay;
  return d;
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions options)
    : SGD(single_group(std::move(params)), options) {}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions options)
    : Optimizer("SGD", std::move(groups), sgd_defaults(options),
                {{"momentum_buffer", /*required_once_stepped=*/false}}),
      nesterov_(options.nesterov) {
  check_groups("SGD");  // the Nesterov rule lives in check_group, out of the base's reach
}

void SGD::check_group(const ParamGroup& group, const std::string& where,
                      std::vector<std::string>& problems) const {
  if (nesterov_ && (group.momentum.value_or(0) <= 0 || group.dampening.value_or(0) != 0))
    problems.push_back(where + ": Nesterov momentum needs momentum > 0 and dampening = 0");
}

std::map<std::string, std::string> SGD::config() const {
  return {{"nesterov", nesterov_ ? "1" : "0"}};
}

void SGD::update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& state) {
  const double weight_decay = *group.weight_decay, momentum = *group.momentum;
  Tensor d = weight_decay != 0 ? add(grad, param, weight_decay) : grad;
  if (momentum != 0) {
    Tensor& buf = state.buffers[kMomentumBuffer];
    if (!buf.defined())
      buf = clone(d);
    else
      buf.mul_(momentum).add_(d, 1 - *group.dampening);
    d = nesterov_ ? add(d, buf, momentum) : buf;
  }
  param.sub_(d, *group.lr);
}

}  // namespace mixgrad::optim
