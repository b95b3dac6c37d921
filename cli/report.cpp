#include "cli/report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <ostream>

#include "core/error.h"
#include "core/parallel.h"
#include "train/plot.h"
#include "train/progress_bar.h"

namespace fs = std::filesystem;

namespace mixgrad::cli {

namespace {

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string percent(double part, double whole) {
  return whole > 0 ? fixed(100.0 * part / whole, 2) + "%" : "0%";
}

}  // namespace

void print_header(std::ostream& out, const zoo::ModelEntry& entry, const zoo::Settings& s,
                  zoo::Task& task, const std::string& out_dir) {
  const int64_t total = task.module().num_parameters();
  out << entry.name << ": " << entry.description << "\n"
      << "  parameters " << total;
  if (entry.routed) out << " total, " << task.active_parameters() << " active per token";
  out << "\n  data " << entry.data << " from "
      << (s.data_dir.empty() ? (entry.default_data_dir.empty() ? std::string("(generated)")
                                                               : entry.default_data_dir)
                             : s.data_dir)
      << ": " << task.train_data()->size() << " train, " << task.test_data()->size() << " test\n"
      << "  epochs " << s.epochs << ", batch " << s.batch << ", lr " << s.lr;
  if (s.experts > 0) out << ", experts " << s.experts;
  if (entry.routed) out << ", top-k " << s.top_k;
  out << ", seed " << s.seed << ", threads " << get_num_threads() << ", device "
      << describe(s.device) << "\n  writing to " << out_dir << "\n";
}

std::vector<double> expert_fractions(const PassStats& pass) {
  std::vector<double> fractions;
  const int64_t routed = pass.routed_slots();
  for (int64_t slots : pass.expert_slots) {
    fractions.push_back(routed > 0 ? static_cast<double>(slots) / static_cast<double>(routed) : 0);
  }
  return fractions;
}

void print_summary(std::ostream& out, const RunSummary& summary) {
  if (summary.train.empty()) return;
  const zoo::ModelEntry& entry = *summary.entry;
  const PassStats& last_train = summary.train.back();
  const PassStats& last_test = summary.test.back();
  std::vector<double> train_seconds, eval_seconds, throughput;
  for (size_t i = 0; i < summary.train.size(); ++i) {
    train_seconds.push_back(summary.train[i].seconds);
    eval_seconds.push_back(summary.test[i].seconds);
    throughput.push_back(static_cast<double>(summary.train[i].items) /
                         std::max(summary.train[i].seconds, 1e-9));
  }
  out << "\n== " << entry.name << " summary\n"
      << "  test " << entry.metric.name << " " << fixed(last_test.metric, 4) << " (test loss "
      << fixed(last_test.loss, 4) << ", train loss " << fixed(last_train.loss, 4) << ")\n"
      << "  " << fixed(median(train_seconds), 2) << " s per epoch of training (median of "
      << train_seconds.size() << "), evaluation " << fixed(median(eval_seconds), 2) << " s, "
      << train::format_si(median(throughput)) << " " << entry.items << "/s\n";
  if (!last_train.expert_slots.empty()) {
    const std::vector<double> load = expert_fractions(last_train);
    const double even = 1.0 / static_cast<double>(load.size());
    out << "  expert load in the last epoch (share of the token-slots; even is " << fixed(even, 3)
        << "):\n";
    for (size_t e = 0; e < load.size(); ++e) {
      const auto bar = static_cast<size_t>(std::lround(load[e] / even * 10.0));
      out << "    expert " << (e < 10 ? " " : "") << e << "  " << fixed(load[e], 3) << "  "
          << std::string(std::min<size_t>(bar, 60), '#') << "\n";
    }
    out << "  dropped token-slots: training " << last_train.dropped << " of "
        << last_train.routed_slots() << " ("
        << percent(static_cast<double>(last_train.dropped),
                   static_cast<double>(last_train.routed_slots()))
        << ") in the last epoch (capacity); evaluation " << last_test.dropped << " of "
        << last_test.routed_slots() << "\n";
  }
  if (summary.processes > 1) {
    double seconds = 0.0;
    for (const PassStats& pass : summary.train) seconds += pass.seconds;
    out << "  " << summary.processes << " processes; rank 0 spent "
        << fixed(summary.all_to_all_seconds, 2) << " s in expert all-to-alls ("
        << percent(summary.all_to_all_seconds, seconds) << " of the training time) and "
        << fixed(summary.gradient_wait_seconds, 2) << " s waiting for gradient reductions ("
        << percent(summary.gradient_wait_seconds, seconds) << ")\n";
  }
  out << "  checkpoint " << summary.checkpoint << "\n";
  const fs::path dir = fs::path(summary.checkpoint).parent_path();
  out << "  metrics " << (dir / "metrics.csv").string()
      << (entry.routed ? ", " + (dir / "expert_load.csv").string() : std::string()) << "\n";
  if (summary.plots.drawn) {
    out << "  plots";
    for (const std::string& png : summary.plots.pngs) out << " " << png;
    out << "\n";
  } else if (!summary.plots.error.empty()) {
    out << "  plots not drawn: " << summary.plots.error << "\n";
  } else {
    out << "  plots not drawn: gnuplot is not installed (apt-get install gnuplot-nox); then run";
    for (const std::string& png : summary.plots.pngs)
      out << " gnuplot " << train::plot_script_path(png) << ";";
    out << "\n";
  }
}

// render_plots without the error handling.
static PlotFiles draw_plots(const std::string& out_dir, const zoo::ModelEntry& entry) {
  const fs::path dir(out_dir);
  const std::string metrics = (dir / "metrics.csv").string();
  const std::string& m = entry.metric.name;
  PlotFiles files;
  files.pngs = {(dir / "loss.png").string(), (dir / (m + ".png")).string()};
  files.drawn = train::plot_lines({.csv = metrics,
                                   .x = "epoch",
                                   .series = {{"train_loss", "train"}, {"test_loss", "test"}},
                                   .png = files.pngs[0],
                                   .title = entry.name + ": loss",
                                   .y_label = "loss"});
  train::plot_lines({.csv = metrics,
                     .x = "epoch",
                     .series = {{"train_" + m, "train"}, {"test_" + m, "test"}},
                     .png = files.pngs[1],
                     .title = entry.name + ": " + m,
                     .y_label = m});
  if (entry.routed) {
    files.pngs.push_back((dir / "expert_load.png").string());
    train::plot_heatmap({.csv = (dir / "expert_load.csv").string(),
                         .x = "epoch",
                         .y = "expert",
                         .value = "fraction",
                         .png = files.pngs.back(),
                         .title = entry.name + ": share of token-slots per expert"});
  }
  return files;
}

PlotFiles render_plots(const std::string& out_dir, const zoo::ModelEntry& entry) {
  try {
    return draw_plots(out_dir, entry);
  } catch (const Error& e) {  // the CSV files hold everything; a plot is not worth failing a run
    PlotFiles files;
    files.error = e.what();
    return files;
  }
}

}  // namespace mixgrad::cli
