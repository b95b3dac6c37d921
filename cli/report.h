#pragma once
// What `mixgrad train` prints before and after training, and the plots it renders.
#include <iosfwd>
#include <string>
#include <vector>

#include "cli/runner.h"
#include "zoo/zoo.h"

namespace mixgrad::cli {

// The run's model, sizes, data and settings.
void print_header(std::ostream& out, const zoo::ModelEntry& entry, const zoo::Settings& settings,
                  zoo::Task& task, const std::string& out_dir);

// Each expert's share of the routed token-slots of a pass (empty for a dense model).
std::vector<double> expert_fractions(const PassStats& pass);

// The PNG files of a run and whether gnuplot drew them (each has its script beside it).
struct PlotFiles {
  std::vector<std::string> pngs;
  bool drawn = false;
  std::string error;  // why gnuplot failed, when it did (the run itself still succeeded)
};

struct RunSummary {
  const zoo::ModelEntry* entry = nullptr;
  std::vector<PassStats> train, test;  // one per epoch of this run
  std::string checkpoint;
  PlotFiles plots;
  int processes = 1;                   // training processes (--ep x --dp)
  double all_to_all_seconds = 0.0;     // rank 0's time in the expert all-to-alls
  double gradient_wait_seconds = 0.0;  // rank 0's wait for gradient reductions

  void add_epoch(const PassStats& train_pass, const PassStats& test_pass) {
    train.push_back(train_pass);
    test.push_back(test_pass);
  }
};

// Final metric, seconds per epoch, throughput, the expert-load table, files written.
void print_summary(std::ostream& out, const RunSummary& summary);

// Draws loss.png, <metric>.png and (MoE models) expert_load.png in `out_dir` from its CSV files
// through gnuplot (the scripts are written even without gnuplot).
PlotFiles render_plots(const std::string& out_dir, const zoo::ModelEntry& entry);

}  // namespace mixgrad::cli
