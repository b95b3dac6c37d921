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
  const char* op = "checkpoint merge";
  std::error_code ec;
  const fs::path out = fs::absolute(options.out).lexically_normal();
  MG_CHECK(out.has_filename() && !fs::is_directory(out, ec), op, "--out '", options.out,
           "' is a directory; give the file to write");
  // Writing over the checkpoint, or into its directory, would replace a part or its manifest.
  MG_CHECK(!fs::equivalent(options.checkpoint, out, ec) &&
               !fs::equivalent(options.checkpoint, out.parent_path(), ec),
           op, "--out '", options.out, "' lies in the checkpoint '", options.checkpoint,
           "' itself; write it elsewhere");
  const bool parts = io::is_sharded_checkpoint(options.checkpoint);
  const io::CheckpointContents merged = io::merge_checkpoint(options.checkpoint, out.string());
  std::cout << "merged " << options.checkpoint
            << (parts ? " (the parts of a run over several processes)" : " (one file already)")
            << " into " << options.out << ": " << merged.module_state.size() << " model tensors, "
            << merged.optimizer_tensors.size() << " optimizer tensors, " << fs::file_size(out)
            << " bytes\n";
  return 0;
}

}  // namespace mixgrad::cli
