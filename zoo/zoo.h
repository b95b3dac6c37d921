#pragma once
// The model zoo: every model the `mixgrad` command can train, by name.
//
//   const zoo::ModelEntry& entry = zoo::find_model("fashion-moe");
//   zoo::Settings settings = zoo::resolve(entry, {.epochs = 3});
//   std::unique_ptr<zoo::Task> task = entry.make(settings);
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "zoo/task.h"

namespace mixgrad::zoo {

struct ModelEntry {
  std::string name;         // "fashion-moe"
  std::string description;  // one line
  std::string data;         // what it trains on, e.g. "Fashion-MNIST"
  // Where the default data is read from ("/usr/share/datasets/fashion-mnist"), or empty when
  // the model generates its own data.
  std::string default_data_dir;
  MetricInfo metric;
  std::string items = "examples";  // what StepOutput::items counts: "examples" or "tokens"
  // Every field set. experts > 0 for models with experts (--experts applies), else 0; top_k
  // only for routed models.
  Settings defaults;
  // A routed (top-k) MoE model: --top-k applies, forward() reports the expert load. Models that
  // blend all experts (MANN) have experts but are not routed.
  bool routed = false;
  // Builds the model (no data read yet) from fully resolved settings. Throws Error for
  // settings the model cannot take.
  std::function<std::unique_ptr<Task>(const Settings&)> make;
};

// All models, in the order `mixgrad zoo` lists them.
const std::vector<ModelEntry>& models();
// The entry named `name`; throws Error listing the known names otherwise.
const ModelEntry& find_model(const std::string& name);
// `user` with every unset field (0 or empty) taken from the entry's defaults. Throws Error for
// impossible values: epochs, batch or lr not positive, --experts on a model without experts,
// --top-k on a model that is not routed, top_k outside [1, experts].
Settings resolve(const ModelEntry& entry, Settings user);

// The entries each model family adds to the zoo (one function per source file).
std::vector<ModelEntry> fashion_models();
std::vector<ModelEntry> mann_models();
std::vector<ModelEntry> cifar_models();
std::vector<ModelEntry> words_models();
std::vector<ModelEntry> words_transformer_models();

}  // namespace mixgrad::zoo
