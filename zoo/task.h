#pragma once
// The model zoo's contract: a Task is one ready-to-train model together with its data and its
// loss. The `mixgrad` command (cli/) runs every Task through the same loop: it builds the model
// from Settings, loads the data, walks train_data() in shuffled batches, calls forward() on
// each, steps Adam on StepOutput::loss, and evaluates on test_data() every epoch.
//
//   auto task = zoo::find_model("fashion-moe").make(settings);
//   task->load_data(settings.data_dir);
//   auto out = task->forward(batch);  // loss, metric, expert load
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"
#include "data/dataset.h"
#include "nn/module.h"

namespace mixgrad::zoo {

// What the user may choose for a run. A field left at 0 (or empty) takes the model's default
// (ModelEntry::defaults); resolve() fills them in.
struct Settings {
  int64_t epochs = 0;
  int64_t batch = 0;
  double lr = 0.0;
  int64_t experts = 0;  // MoE models only
  int64_t top_k = 0;    // MoE models only
  uint64_t seed = 0;
  std::string data_dir = {};  // empty: the model's default data (or generated data)
  Device device = Device::cpu();
};

// How a model's test metric reads: "accuracy" (higher is better), "mse", "nats_per_char". The
// name is also a CSV column suffix (train_accuracy, test_accuracy), so it is an identifier.
struct MetricInfo {
  std::string name;
  bool higher_is_better = true;
};

// One batch through the model.
struct StepOutput {
  Tensor loss;              // 0-dim: task loss plus auxiliary (balancing) losses; backward() on it
  double task_loss = 0.0;   // the task loss alone, mean over the batch's items
  int64_t items = 0;        // examples (or tokens) in the batch: the weight of task_loss and metric
  double metric_sum = 0.0;  // the metric summed over the items (correct predictions, nats, ...)
  // MoE models: int64 [E] token-slots each expert computed in this batch, and the slots dropped
  // for capacity. Undefined / 0 for dense models.
  Tensor tokens_per_expert;
  int64_t dropped = 0;
};

class Task {
 public:
  virtual ~Task() = default;

  // The whole model (what checkpoints save and the optimizer trains).
  virtual nn::Module& module() = 0;
  // Reads (or generates) the data. `dir` empty means the model's default data. Throws Error
  // naming the file and the problem for missing or malformed data.
  virtual void load_data(const std::string& dir) = 0;
  // Available after load_data(). Batches of both are data::Example {input, target}.
  virtual std::shared_ptr<const data::Dataset> train_data() const = 0;
  virtual std::shared_ptr<const data::Dataset> test_data() const = 0;
  // One batch forward in the module's current mode (train() or eval()); the batch is already
  // on the model's device. In eval mode MoE models must drop no token-slot silently: they
  // evaluate with a capacity that drops nothing, and any drop still shows in `dropped`.
  virtual StepOutput forward(const data::Example& batch) = 0;
  // Parameters one example (or token) uses: for MoE models the shared ones plus k experts'.
  virtual int64_t active_parameters() { return module().num_parameters(); }
  // Called once after training (and by `mixgrad eval`): model-specific findings such as sampled
  // words or which experts each gait uses, printed to `out`; files may go to `out_dir` (empty:
  // write none).
  virtual void report(std::ostream& out, const std::string& out_dir) {
    (void)out;
    (void)out_dir;
  }
};

}  // namespace mixgrad::zoo
