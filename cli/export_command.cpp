// `mixgrad export mann`: a mann-quadruped checkpoint as the original MANN binary files.
#include <iostream>

#include "cli/commands.h"
#include "cli/run_record.h"
#include "core/error.h"
#include "zoo/mann_export.h"

namespace mixgrad::cli {

int run_export(const ExportOptions& options) {
  MG_CHECK(options.kind == "mann", "export", "unknown export kind '", options.kind,
           "' (known: mann)");
  // The run record names the model that wrote the checkpoint, so another model's checkpoint is
  // refused by name rather than by a missing tensor.
  const RunRecord record = read_run_record(options.checkpoint, "mann-quadruped");
  zoo::export_mann(options.checkpoint, options.out_dir);
  std::cout << "exported " << options.checkpoint << " (mann-quadruped, " << record.settings.experts
            << " experts, " << record.epochs_done << " epochs) to " << options.out_dir
            << " in the original MANN layout\n";
  return 0;
}

}  // namespace mixgrad::cli
