#include "cli/run_record.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

namespace mixgrad::cli {

namespace {
constexpr const char* kKey = "mixgrad.run";
}

std::map<std::string, std::string> to_metadata(const RunRecord& r) {
  const nlohmann::json j = {
      {"model", r.model},        {"epochs", r.settings.epochs},   {"batch", r.settings.batch},
      {"lr", r.settings.lr},     {"experts", r.settings.experts}, {"top_k", r.settings.top_k},
      {"seed", r.settings.seed}, {"epochs_done", r.epochs_done},  {"steps_done", r.steps_done}};
  return {{kKey, j.dump()}};
}

RunRecord read_run_record(const std::string& checkpoint, const std::string& expected_model) {
  const io::StringMap metadata = io::read_checkpoint_metadata(checkpoint).metadata;
  const auto it = metadata.find(kKey);
  MG_CHECK(it != metadata.end(), "checkpoint", checkpoint,
           " was not written by `mixgrad train` (no ", kKey, " metadata)");
  RunRecord r;
  try {
    const nlohmann::json j = nlohmann::json::parse(it->second);
    r.model = j.at("model").get<std::string>();
    r.settings.epochs = j.at("epochs").get<int64_t>();
    r.settings.batch = j.at("batch").get<int64_t>();
    r.settings.lr = j.at("lr").get<double>();
    r.settings.experts = j.at("experts").get<int64_t>();
    r.settings.top_k = j.at("top_k").get<int64_t>();
    r.settings.seed = j.at("seed").get<uint64_t>();
    r.epochs_done = j.at("epochs_done").get<int64_t>();
    r.steps_done = j.at("steps_done").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw Error("checkpoint", checkpoint + ": malformed " + kKey + " metadata (" + e.what() + ")");
  }
  MG_CHECK(expected_model.empty() || r.model == expected_model, "checkpoint", checkpoint,
           " is a checkpoint of ", r.model, ", not of ", expected_model);
  return r;
}

}  // namespace mixgrad::cli
