// `mixgrad checkpoint merge`: the parts a run over several processes wrote (--ep) as the one
// file one process writes, for tools that read a single safetensors file.
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "io/sharded_checkpoint.h"

namespace mixgrad::cli {

int run_checkpoint_merge(const CheckpointMergeOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  MG_CHECK(!fs::equivalent(options.checkpoint, options.out, ec), "checkpoint merge",
           "--out names the checkpoint itself ('", options.out, "')");
  MG_CHECK(!fs::is_directory(options.out, ec), "checkpoint merge", "--out '", options.out,
           "' is a directory; give the file to write");
  const bool parts = io::is_sharded_checkpoint(options.checkpoint);
  io::merge_checkpoint(options.checkpoint, options.out);
  const io::CheckpointContents merged = io::read_checkpoint(options.out);
  std::cout << "merged " << options.checkpoint
            << (parts ? " (parts of a run over several processes)" : " (one file already)")
            << " into " << options.out << ": " << merged.module_state.size() << " model tensors, "
            << merged.optimizer_tensors.size() << " optimizer tensors, "
            << fs::file_size(options.out) << " bytes\n";
  return 0;
}

}  // namespace mixgrad::cli
