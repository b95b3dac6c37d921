// `mixgrad train`: builds a zoo model, trains it with Adam and a cosine schedule, evaluates
// every epoch, and writes the checkpoint, metrics.csv, expert_load.csv and the plots.
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "cli/parallel.h"
#include "cli/report.h"
#include "cli/run_record.h"
#include "cli/runner.h"
#include "core/error.h"
#include "core/generator.h"
#include "core/parallel.h"
#include "dist/collectives.h"
#include "io/checkpoint.h"
#include "io/file_io.h"
#include "optim/adam.h"
#include "optim/lr_scheduler.h"
#include "train/csv_logger.h"
#include "train/progress_bar.h"
#include "zoo/zoo.h"

namespace fs = std::filesystem;

namespace mixgrad::cli {

namespace {

std::string timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &local);
  return buf;
}

// The run directory a checkpoint lies in: the folder holding the file, or the directory of parts
// ("runs/x/checkpoint/" as well as "runs/x/checkpoint").
fs::path checkpoint_directory(const std::string& checkpoint) {
  fs::path path = fs::absolute(checkpoint).lexically_normal();  // "x/." as "x/"
  if (!path.has_filename()) path = path.parent_path();
  return path.parent_path();
}

// Evaluation runs in batches of at least 1000 examples.
int64_t evaluation_batch(const zoo::Settings& settings) {
  return std::max<int64_t>(settings.batch, 1000);
}

std::vector<std::string> metric_columns(const std::string& metric) {
  return {"epoch",         "train_loss",   "train_" + metric,  "test_loss",     "test_" + metric,
          "train_seconds", "eval_seconds", "items_per_second", "dropped_train", "dropped_test"};
}

}  // namespace

int run_train(const TrainOptions& options) {
  const zoo::ModelEntry& entry = zoo::find_model(options.model);
  zoo::Settings settings = zoo::resolve(entry, options.settings);
  settings.device = options.settings.device;
  if (options.threads < 0) throw Error("train", "--threads must be >= 1");
  if (options.threads > 0) set_num_threads(options.threads);
  ParallelRun parallel({options.expert_parallel, options.data_parallel});
  // The processes share the machine's cores (each with its share of the default).
  if (options.threads == 0 && parallel.active())
    set_num_threads(std::max(1, get_num_threads() / parallel.parallelism().processes()));

  std::optional<RunRecord> resumed;
  if (!options.resume.empty()) {
    resumed = read_run_record(options.resume, entry.name);
    // The model's shape comes from the checkpoint; so do the other settings the user does not
    // set again (batch and lr fix the learning-rate schedule the saved step count is a point of).
    const zoo::Settings& saved = resumed->settings;
    MG_CHECK((options.settings.experts == 0 || options.settings.experts == saved.experts) &&
                 (options.settings.top_k == 0 || options.settings.top_k == saved.top_k),
             "train", options.resume, " holds a model with --experts ", saved.experts, " --top-k ",
             saved.top_k, "; it cannot resume with other values");
    settings.experts = saved.experts;
    settings.top_k = saved.top_k;
    if (options.settings.epochs == 0) settings.epochs = saved.epochs;
    if (options.settings.batch == 0) settings.batch = saved.batch;
    if (options.settings.lr == 0) settings.lr = saved.lr;
    if (options.settings.seed == 0) settings.seed = saved.seed;
    MG_CHECK(resumed->epochs_done < settings.epochs, "train", options.resume, " already has ",
             resumed->epochs_done, " of ", settings.epochs,
             " epochs; give a larger --epochs to train on");
  }

  manual_seed(settings.seed);
  std::unique_ptr<zoo::Task> task = entry.make(settings);
  task->load_data(settings.data_dir);
  // After the data: a run that cannot start leaves no empty output directory behind.
  // A resumed run goes on in its checkpoint's directory unless told otherwise.
  const fs::path out_dir = !options.out_dir.empty() ? fs::path(options.out_dir)
                           : resumed                ? checkpoint_directory(options.resume)
                                     : fs::path("runs") / (entry.name + "-" + timestamp());
  // Several processes: one writes and prints. Everything that can fail for the layout (experts
  // to share, test batches to split) is checked before the output directory exists.
  const bool writer = parallel.writer();
  parallel.prepare(task->module(), *task->test_data(), evaluation_batch(settings));
  if (writer) io::ensure_writable_directory(out_dir.string(), "train --out");

  // Human output goes to stdout, or to stderr when stdout carries the JSON lines.
  const bool human = !options.output.quiet && writer;
  const bool json = options.output.json && writer;
  std::ostream& log = options.output.json ? std::cerr : std::cout;
  if (human) print_header(log, entry, settings, *task, out_dir.string());
  if (human && parallel.active()) {
    log << "  processes " << parallel.parallelism().processes() << " (--ep "
        << parallel.parallelism().expert << " --dp " << parallel.parallelism().data
        << "): each trains on 1/" << parallel.parallelism().processes() << " of every batch\n";
  }

  data::DataLoader loader(task->train_data(), {.batch_size = settings.batch,
                                               .shuffle = true,
                                               .seed = settings.seed,
                                               .prefetch = true,
                                               .shard_index = parallel.shard().index,
                                               .shard_count = parallel.shard().count});
  optim::Adam optimizer(task->module().parameters(), {.lr = settings.lr});
  optim::CosineAnnealingLR schedule(optimizer, settings.epochs * loader.size());
  int64_t first_epoch = 1, steps = 0;
  if (resumed) {
    parallel.load_checkpoint(options.resume, task->module(), optimizer);
    first_epoch = resumed->epochs_done + 1;
    steps = resumed->steps_done;
    schedule.step(static_cast<double>(steps));
    loader.set_epoch(resumed->epochs_done);
  }

  const std::string metric = entry.metric.name;
  std::optional<train::CsvLogger> metrics_csv;
  if (writer) {
    metrics_csv.emplace((out_dir / "metrics.csv").string(), metric_columns(metric),
                        resumed ? train::CsvMode::kAppend : train::CsvMode::kTruncate);
  }
  std::optional<train::CsvLogger> load_csv;
  if (entry.routed && writer) {
    load_csv.emplace((out_dir / "expert_load.csv").string(),
                     std::vector<std::string>{"epoch", "expert", "fraction"},
                     resumed ? train::CsvMode::kAppend : train::CsvMode::kTruncate);
  }
  std::optional<train::ProgressBar> bar;
  if (human) {
    bar.emplace(std::cerr, train::ProgressOptions{
                               .line_interval_s = 15.0, .unit = entry.items, .metric = metric});
  }

  const std::string checkpoint = parallel.checkpoint_path(out_dir.string());
  RunSummary summary;
  summary.entry = &entry;
  for (int64_t epoch = first_epoch; epoch <= settings.epochs; ++epoch) {
    if (bar) bar->start_epoch(epoch, settings.epochs, loader.size());
    const PassStats train_pass = parallel.combine(train_epoch(
        *task, loader, optimizer, schedule, bar ? &*bar : nullptr, settings.device, epoch));
    steps += train_pass.batches;
    parallel.sync_buffers();  // e.g. batch-norm statistics: the evaluated model is rank 0's
    const PassStats test_pass = parallel.combine(
        evaluate(*task, evaluation_batch(settings), settings.device, parallel.shard()));
    const double items_per_second =
        static_cast<double>(train_pass.items) / std::max(train_pass.seconds, 1e-9);
    if (bar) {
      bar->finish_epoch({{"test_loss", test_pass.loss}, {"test_" + metric, test_pass.metric}});
    }
    // The checkpoint first: a run killed in between resumes after this epoch, so its CSV rows
    // are never written twice.
    parallel.save_checkpoint(checkpoint, task->module(), optimizer,
                             to_metadata({.model = entry.name,
                                          .settings = settings,
                                          .epochs_done = epoch,
                                          .steps_done = steps}));
    if (!writer) continue;  // the rest is what the writing process prints and writes
    // One record of the epoch for metrics.csv and the --json line alike.
    nlohmann::json record = {{"epoch", epoch},
                             {"train_loss", train_pass.loss},
                             {"train_" + metric, train_pass.metric},
                             {"test_loss", test_pass.loss},
                             {"test_" + metric, test_pass.metric},
                             {"train_seconds", train_pass.seconds},
                             {"eval_seconds", test_pass.seconds},
                             {"items_per_second", items_per_second},
                             {"dropped_train", train_pass.dropped},
                             {"dropped_test", test_pass.dropped}};
    std::vector<train::CsvLogger::Cell> row;
    for (const auto& [name, value] : record.items()) {
      row.emplace_back(name, value.is_number_integer() ? train::CsvValue(value.get<int64_t>())
                                                       : train::CsvValue(value.get<double>()));
    }
    metrics_csv->log(row);
    const std::vector<double> load = expert_fractions(train_pass);
    for (size_t e = 0; load_csv && e < load.size(); ++e) {
      load_csv->log({{"epoch", epoch}, {"expert", static_cast<int64_t>(e)}, {"fraction", load[e]}});
    }
    if (json) {
      nlohmann::json j = record;
      // In JSON the throughput says what it counts.
      j[entry.items + "_per_second"] = items_per_second;
      j.erase("items_per_second");
      if (!load.empty()) j["expert_load"] = load;
      std::cout << j.dump() << std::endl;
    }
    summary.add_epoch(train_pass, test_pass);
  }

  if (!writer) {
    // The report may run the model (sampled words), which the others must join.
    std::ostringstream discard;
    task->report(discard, "");
    return 0;
  }
  summary.checkpoint = checkpoint;
  if (parallel.active()) {
    summary.processes = parallel.parallelism().processes();
    summary.all_to_all_seconds = dist::all_to_all_seconds();
    summary.gradient_wait_seconds = parallel.gradient_wait_seconds();
  }
  summary.plots = render_plots(out_dir.string(), entry);
  std::ostringstream discard;
  std::ostream& report_out = human ? log : discard;
  if (human) print_summary(log, summary);
  task->report(report_out, out_dir.string());
  return 0;
}

}  // namespace mixgrad::cli
