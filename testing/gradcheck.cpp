#include "testing/gradcheck.h"

#include <cmath>
#include <ostream>
#include <sstream>

#include "autograd/engine.h"
#include "core/grad_mode.h"
#include "ops/ops.h"

namespace mixgrad {

namespace {
using MultiFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

double projected(const MultiFn& fn, const std::vector<Tensor>& inputs,
                 const std::vector<Tensor>& weights) {
  NoGradGuard no_grad;
  std::vector<Tensor> outs = fn(inputs);
  double total = 0;
  for (size_t i = 0; i < outs.size(); ++i)
    if (outs[i].is_floating_point()) total += sum(outs[i].to(kFloat64) * weights[i]).item<double>();
  return total;
}
}  // namespace

GradcheckResult gradcheck(const MultiFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opt) {
  std::vector<Tensor> diff_inputs;
  for (const Tensor& t : inputs) {
    if (!t.defined() || !t.requires_grad()) continue;
    MG_CHECK(t.dtype() == DType::Float64, "gradcheck",
             "inputs that require grad must be "
             "float64 for a meaningful finite-difference check, got ",
             t.dtype());
    MG_CHECK(t.is_contiguous(), "gradcheck", "inputs must be contiguous");
    diff_inputs.push_back(t);
  }
  MG_CHECK(!diff_inputs.empty(), "gradcheck", "no input requires grad");

  std::vector<Tensor> outs = fn(inputs);
  Generator gen(opt.seed);
  std::vector<Tensor> weights;
  Tensor scalar;
  for (const Tensor& o : outs) {
    Tensor w = randn(o.shape(), kFloat64, &gen);
    weights.push_back(w);
    if (!o.is_floating_point() || !o.requires_grad()) continue;
    Tensor term = sum(o.to(kFloat64) * w);
    scalar = scalar.defined() ? scalar + term : term;
  }
  GradcheckResult result;
  if (!scalar.defined()) {
    result.ok = false;
    result.message = "no output requires grad";
    return result;
  }
  std::vector<Tensor> analytic =
      autograd::grad({scalar}, diff_inputs, {}, /*retain_graph=*/false, /*allow_unused=*/true);

  std::ostringstream msg;
  for (size_t k = 0; k < diff_inputs.size(); ++k) {
    Tensor x = diff_inputs[k];
    std::vector<double> a = analytic[k].defined() ? analytic[k].to_vector<double>()
                                                  : std::vector<double>(x.numel(), 0.0);
    double* data = x.data_ptr<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double orig = data[i];
      data[i] = orig + opt.eps;
      const double plus = projected(fn, inputs, weights);
      data[i] = orig - opt.eps;
      const double minus = projected(fn, inputs, weights);
      data[i] = orig;
      const double numeric = (plus - minus) / (2 * opt.eps);
      if (!(std::fabs(a[i] - numeric) <= opt.atol + opt.rtol * std::fabs(numeric))) {
        result.ok = false;
        msg << "input " << k << " (shape " << detail::to_str(x.shape()) << ") element " << i
            << ": analytic " << a[i] << " vs numeric " << numeric << "\n";
        if (msg.tellp() > 2000) break;
      }
    }
  }
  result.message = msg.str();
  return result;
}

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  return gradcheck(
      MultiFn([&fn](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in)}; }), inputs,
      options);
}

std::ostream& operator<<(std::ostream& os, const GradcheckResult& r) {
  return os << (r.ok ? "gradcheck passed" : "gradcheck failed:\n" + r.message);
}

}  // namespace mixgrad
