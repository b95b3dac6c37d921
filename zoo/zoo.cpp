#include "zoo/zoo.h"

#include <cmath>

#include "core/error.h"

namespace mixgrad::zoo {

const std::vector<ModelEntry>& models() {
  static const std::vector<ModelEntry> all = [] {
    using Family = std::vector<ModelEntry> (*)();
    const Family families[] = {
        fashion_models, mann_models, cifar_models, words_models, words_transformer_models,
    };
    std::vector<ModelEntry> list;
    for (Family family : families) {
      for (ModelEntry& entry : family()) list.push_back(std::move(entry));
    }
    return list;
  }();
  return all;
}

const ModelEntry& find_model(const std::string& name) {
  std::string known;
  for (const ModelEntry& entry : models()) {
    if (entry.name == name) return entry;
    known += (known.empty() ? "" : ", ") + entry.name;
  }
  throw Error("zoo", "unknown model '" + name + "' (known: " + known + ")");
}

Settings resolve(const ModelEntry& entry, Settings user) {
  const Settings& d = entry.defaults;
  const auto fail = [&](const std::string& what) { throw Error(entry.name, what); };
  if (d.experts == 0 && user.experts != 0) {
    fail("--experts applies to models with experts only; " + entry.name + " has none");
  }
  if (!entry.routed && user.top_k != 0) {
    fail("--top-k applies to routed (top-k) MoE models only, not to " + entry.name);
  }
  if (user.epochs < 0) fail("--epochs must be >= 1, got " + std::to_string(user.epochs));
  if (user.batch < 0) fail("--batch must be >= 1, got " + std::to_string(user.batch));
  if (user.lr < 0.0 || !std::isfinite(user.lr))
    fail("--lr must be > 0, got " + std::to_string(user.lr));
  if (user.experts < 0) fail("--experts must be >= 1, got " + std::to_string(user.experts));
  if (user.top_k < 0) fail("--top-k must be >= 1, got " + std::to_string(user.top_k));
  Settings s = user;
  if (s.epochs == 0) s.epochs = d.epochs;
  if (s.batch == 0) s.batch = d.batch;
  if (s.lr == 0.0) s.lr = d.lr;
  if (s.experts == 0) s.experts = d.experts;
  if (s.top_k == 0) s.top_k = d.top_k;
  if (entry.routed && s.top_k > s.experts) {
    fail("--top-k " + std::to_string(s.top_k) + " is larger than the number of experts (" +
         std::to_string(s.experts) + ")");
  }
  return s;
}

}  // namespace mixgrad::zoo
