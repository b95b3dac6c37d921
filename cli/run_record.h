#pragma once
// What a zoo checkpoint says about the run that wrote it, in the safetensors metadata: the
// model's name, the settings that shape it (experts, top-k) and how far training went, so
// `eval` and `--resume` rebuild the same model and refuse another model's checkpoint.
#include <cstdint>
#include <map>
#include <string>

#include "zoo/task.h"

namespace mixgrad::cli {

struct RunRecord {
  std::string model;
  zoo::Settings settings;  // resolved; data_dir and device are not recorded
  int64_t epochs_done = 0;
  int64_t steps_done = 0;  // optimizer steps, for the learning-rate schedule
};

std::map<std::string, std::string> to_metadata(const RunRecord& record);
// Reads the record of `checkpoint`. Throws Error naming the file when it cannot be read, is
// not a zoo checkpoint, or (with `expected_model` non-empty) belongs to another model.
RunRecord read_run_record(const std::string& checkpoint, const std::string& expected_model);

}  // namespace mixgrad::cli
