// `mixgrad eval`: the test metric of a checkpoint written by `mixgrad train`.
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "cli/report.h"
#include "cli/run_record.h"
#include "cli/runner.h"
#include "core/error.h"
#include "core/parallel.h"
#include "io/checkpoint.h"
#include "zoo/zoo.h"

namespace mixgrad::cli {

int run_eval(const EvalOptions& options) {
  const zoo::ModelEntry& entry = zoo::find_model(options.model);
  if (options.threads < 0) throw Error("eval", "--threads must be >= 1");
  if (options.threads > 0) set_num_threads(options.threads);
  const RunRecord record = read_run_record(options.checkpoint, entry.name);
  zoo::Settings settings = record.settings;
  settings.data_dir = options.data_dir;
  settings.device = parse_device(options.device);
  std::unique_ptr<zoo::Task> task = entry.make(settings);
  // Data first: a task may derive state from it (MANN's normalisation) that the checkpoint's
  // saved values must then override.
  task->load_data(settings.data_dir);
  // Without the optimizer; every tensor of the model must be there and fit.
  io::load_checkpoint(options.checkpoint, task->module());
  const PassStats test = evaluate(*task, std::max<int64_t>(settings.batch, 1000), settings.device);
  if (options.output.json) {
    nlohmann::json j = {{"model", entry.name},
                        {"checkpoint", options.checkpoint},
                        {"epochs_done", record.epochs_done},
                        {"test_loss", test.loss},
                        {"test_" + entry.metric.name, test.metric},
                        {"items", test.items},
                        {"dropped", test.dropped}};
    if (!test.expert_slots.empty()) j["expert_load"] = expert_fractions(test);
    std::cout << j.dump() << std::endl;
  } else if (!options.output.quiet) {
    std::cout << entry.name << " (" << options.checkpoint << ", " << record.epochs_done
              << " epochs): test " << entry.metric.name << " " << test.metric << ", test loss "
              << test.loss << " over " << test.items << " " << entry.items;
    if (!test.expert_slots.empty()) std::cout << ", dropped token-slots " << test.dropped;
    std::cout << "\n";
    task->report(std::cout, "");
  }
  return 0;
}

}  // namespace mixgrad::cli
