#pragma once
// The `mixgrad` command's subcommands, each a function of parsed options (cli/main.cpp parses
// the command line with CLI11). Every user mistake throws mixgrad::Error with one clear message;
// main() prints it and exits with status 1.
#include <cstdint>
#include <iosfwd>
#include <string>

#include "zoo/task.h"

namespace mixgrad::cli {

// How a run talks: the human display, one JSON object per epoch, or nothing but errors.
struct Output {
  bool quiet = false;  // no progress, no summary
  bool json = false;   // one JSON object per epoch (and one summary object) on stdout
};

struct TrainOptions {
  std::string model;
  zoo::Settings settings;   // as given; the model's defaults fill the rest
  int threads = 0;          // 0: the library's default
  std::string out_dir;      // empty: runs/<model>-<timestamp>
  std::string resume;       // a checkpoint to continue from
  int expert_parallel = 1;  // --ep: processes sharing each MoE layer's experts
  int data_parallel = 1;    // --dp: replicas of that group
  Output output;
};

struct EvalOptions {
  std::string model;
  std::string checkpoint;
  std::string data_dir;
  int threads = 0;
  std::string device = "cpu";
  Output output;
};

struct GraphOptions {
  std::string model;
  std::string out;  // FILE.dot
  bool svg = false;
  std::string data_dir;
};

// `mixgrad export mann`: a checkpoint's weights in another runtime's file layout.
struct ExportOptions {
  std::string kind;  // "mann": the original MANN binary files (zoo/mann_export.h)
  std::string checkpoint;
  std::string out_dir;
};

// `mixgrad checkpoint merge`: a checkpoint of any layout written as one process's file.
struct CheckpointMergeOptions {
  std::string checkpoint;  // a directory of parts (or a file)
  std::string out;         // the file to write
};

// Each returns the process exit status.
int run_zoo(std::ostream& out);
int run_train(const TrainOptions& options);
int run_eval(const EvalOptions& options);
int run_graph(const GraphOptions& options);
int run_export(const ExportOptions& options);
int run_checkpoint_merge(const CheckpointMergeOptions& options);

// --device as a Device; throws Error for an unknown name or cuda without a usable GPU.
Device parse_device(const std::string& name);

}  // namespace mixgrad::cli
