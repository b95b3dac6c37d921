#pragma once
// A progress display for long loops: epoch, batch i/n, running loss, throughput, elapsed, ETA.
//
//   train::ProgressBar bar(std::cerr);
//   bar.start_epoch(1, 10, loader_size);
//   for (...) bar.step(loss, batch_size);
//   bar.finish_epoch({{"val_acc", acc}});
//
// On a terminal one line is redrawn in place with '\r'; in a log file (or a pipe) it prints
// plain lines now and then, so logs stay readable.
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "train/metrics.h"

namespace mixgrad::train {

// Monotonic time in seconds. Injectable so that tests can drive time by hand.
using Clock = std::function<double()>;
// std::chrono::steady_clock in seconds.
double steady_seconds();

// "1.23k", "45.6M", "999", "0.5": three significant digits with an SI suffix.
std::string format_si(double value);
// "01:02:03" (hours grow past 99); whole seconds, rounded down; "--:--:--" when unknown
// (negative, NaN or infinite).
std::string format_duration(double seconds);

enum class ProgressMode {
  kAuto,         // kInteractive when the stream is std::cout/std::cerr/std::clog on a terminal
  kInteractive,  // redraw one line with '\r'
  kPlain,        // print whole lines, periodically
};

struct ProgressOptions {
  ProgressMode mode = ProgressMode::kAuto;
  // Interactive mode: the least time between two redraws (the final state is always drawn).
  double redraw_interval_s = 0.1;
  // Plain mode: print a line once this many seconds have passed since the last one (0 = never).
  double line_interval_s = 10.0;
  // Plain mode: also print a line each time another this-many percent of the batches are done
  // (0 = never; needs a known batch count).
  double line_every_percent = 0.0;
  // What the throughput counts: "1.23k it/s".
  std::string unit = "it";
  // Name of a per-item metric shown after the loss ("acc 0.912") when step() is given one; its
  // item-weighted running mean over the epoch is shown, like the loss.
  std::string metric = "";
  // Time source; empty means steady_seconds.
  Clock clock = {};
};

class ProgressBar {
 public:
  // Writes to `out`, which must outlive the bar.
  explicit ProgressBar(std::ostream& out, ProgressOptions options = {});
  // Ends a line left open by an interrupted epoch (e.g. when a training step threw).
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Whether this bar redraws in place (resolved from ProgressMode::kAuto at construction).
  bool interactive() const { return interactive_; }

  // Starts counting a new epoch of `batches` batches (0 = unknown: no total, bar or ETA).
  // `epoch` of `epochs` is shown as "epoch 2/10"; epochs = 0 shows "epoch 2", epoch = 0 hides
  // it. Throws Error on negative arguments.
  void start_epoch(int64_t epoch, int64_t epochs, int64_t batches);
  // Records one finished batch of `items` items with mean loss `loss`; the displayed loss is the
  // item-weighted mean over the epoch so far. Throws Error if no epoch was started or items < 0.
  void step(double loss, int64_t items = 1);
  // The same, with the batch's mean of options().metric. Throws Error if no metric is named.
  void step(double loss, int64_t items, double metric);
  // Prints the epoch's summary line, followed by `metrics` ("val_acc 0.9132"). Throws Error if
  // no epoch was started.
  void finish_epoch(const std::vector<std::pair<std::string, double>>& metrics = {});

 private:
  std::string status_line(double now, bool final) const;
  bool plain_line_due(double now);
  void draw(const std::string& line, double now);

  std::ostream& out_;
  ProgressOptions options_;
  bool interactive_;
  bool running_ = false;
  bool line_open_ = false;  // an interactive line is on screen without its '\n'
  size_t drawn_width_ = 0;  // width of that line, to blank out leftovers of a longer one
  int64_t epoch_ = 0, epochs_ = 0, batches_ = 0;
  int64_t done_ = 0, items_ = 0;
  int64_t percent_lines_ = 0;  // percent marks passed so far this epoch
  RunningMean loss_;
  RunningMean metric_;
  double start_time_ = 0.0, last_output_time_ = 0.0;
};

}  // namespace mixgrad::train
