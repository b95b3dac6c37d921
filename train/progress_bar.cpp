#include "train/progress_bar.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>

#include "core/error.h"

namespace mixgrad::train {
namespace {

std::string printf_double(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

// Losses and metrics: four significant digits are what a reader compares by eye.
std::string format_metric(double value) {
  return printf_double("%.4g", value);
}

bool is_terminal(const std::ostream& out) {
  int fd = -1;
  if (&out == &std::cout) {
    fd = fileno(stdout);
  } else if (&out == &std::cerr || &out == &std::clog) {
    fd = fileno(stderr);
  }
  return fd >= 0 && isatty(fd) == 1;
}

// Throws unless `value` lies in [0, max].
void check_option(const char* name, double value, double max) {
  MG_CHECK(value >= 0 && value <= max, "ProgressBar", "option ", name, " must be in [0, ",
           printf_double("%g", max), "], got ", printf_double("%g", value));
}

}  // namespace

double steady_seconds() {
  using Seconds = std::chrono::duration<double>;
  return std::chrono::duration_cast<Seconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string format_si(double value) {
  static const char* const kSuffixes[] = {"", "k", "M", "G", "T", "P"};
  size_t i = 0;
  // 999.5 would print as "1e+03" with three digits: it belongs to the next suffix.
  while (i + 1 < std::size(kSuffixes) && std::fabs(value) >= 999.5) {
    value /= 1000.0;
    ++i;
  }
  return printf_double("%.3g", value) + kSuffixes[i];
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--:--";
  const auto total = static_cast<int64_t>(seconds);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", static_cast<long long>(total / 3600),
                static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
  return buf;
}

ProgressBar::ProgressBar(std::ostream& out, ProgressOptions options)
    : out_(out), options_(std::move(options)) {
  const double kForever = std::numeric_limits<double>::max();
  check_option("redraw_interval_s", options_.redraw_interval_s, kForever);
  check_option("line_interval_s", options_.line_interval_s, kForever);
  check_option("line_every_percent", options_.line_every_percent, 100.0);
  if (!options_.clock) options_.clock = steady_seconds;
  interactive_ = options_.mode == ProgressMode::kInteractive ||
                 (options_.mode == ProgressMode::kAuto && is_terminal(out_));
}

ProgressBar::~ProgressBar() {
  if (!line_open_) return;
  try {
    out_ << '\n' << std::flush;
  } catch (...) {  // a stream set to throw must not take the program down from a destructor
  }
}

void ProgressBar::start_epoch(int64_t epoch, int64_t epochs, int64_t batches) {
  MG_CHECK(epoch >= 0 && epochs >= 0 && batches >= 0, "ProgressBar::start_epoch",
           "epoch, epochs and batches must be >= 0, got ", epoch, ", ", epochs, ", ", batches);
  if (line_open_) {  // the previous epoch was not finished: keep its last state on screen
    out_ << '\n';
    line_open_ = false;
  }
  epoch_ = epoch;
  epochs_ = epochs;
  batches_ = batches;
  done_ = items_ = percent_lines_ = 0;
  drawn_width_ = 0;
  loss_.reset();
  metric_.reset();
  start_time_ = last_output_time_ = options_.clock();
  running_ = true;
  if (interactive_) draw(status_line(start_time_, false), start_time_);
}

void ProgressBar::step(double loss, int64_t items) {
  MG_CHECK(running_, "ProgressBar::step", "no epoch started (call start_epoch first)");
  MG_CHECK(items >= 0, "ProgressBar::step", "items must be >= 0, got ", items);
  ++done_;
  items_ += items;
  loss_.add(loss, static_cast<double>(items));
  const double now = options_.clock();
  if (interactive_) {
    if (now - last_output_time_ >= options_.redraw_interval_s) draw(status_line(now, false), now);
  } else if (plain_line_due(now)) {
    draw(status_line(now, false), now);
  }
}

void ProgressBar::step(double loss, int64_t items, double metric) {
  MG_CHECK(!options_.metric.empty(), "ProgressBar::step",
           "a metric value was given but ProgressOptions::metric names none");
  MG_CHECK(running_, "ProgressBar::step", "no epoch started (call start_epoch first)");
  MG_CHECK(items >= 0, "ProgressBar::step", "items must be >= 0, got ", items);
  metric_.add(metric, static_cast<double>(items));
  step(loss, items);
}

void ProgressBar::finish_epoch(const std::vector<std::pair<std::string, double>>& metrics) {
  MG_CHECK(running_, "ProgressBar::finish_epoch", "no epoch started (call start_epoch first)");
  const double now = options_.clock();
  std::string line = status_line(now, true);
  for (const auto& [name, value] : metrics) line += "  " + name + " " + format_metric(value);
  draw(line, now);
  if (interactive_) {
    out_ << '\n' << std::flush;
    line_open_ = false;
  }
  running_ = false;
}

bool ProgressBar::plain_line_due(double now) {
  bool due = options_.line_interval_s > 0 && now - last_output_time_ >= options_.line_interval_s;
  if (options_.line_every_percent > 0 && batches_ > 0) {
    // The epsilon keeps exact marks (30 of 100 at 10%) from being lost to rounding.
    const auto marks = static_cast<int64_t>(
        std::floor(static_cast<double>(done_) * 100.0 /
                       (static_cast<double>(batches_) * options_.line_every_percent) +
                   1e-9));
    if (marks > percent_lines_) {
      percent_lines_ = marks;
      due = true;
    }
  }
  // The last batch is reported by the summary line of finish_epoch.
  return due && (batches_ == 0 || done_ < batches_);
}

std::string ProgressBar::status_line(double now, bool final) const {
  const double elapsed = now - start_time_;
  std::string line;
  if (epoch_ > 0) {
    line += "epoch " + std::to_string(epoch_);
    if (epochs_ > 0) line += "/" + std::to_string(epochs_);
    line += "  ";
  }
  line += "batch " + std::to_string(done_);
  if (batches_ > 0) line += "/" + std::to_string(batches_);
  line += "  loss " + (loss_.empty() ? std::string("-") : format_metric(loss_.mean()));
  if (!options_.metric.empty()) {
    line += "  " + options_.metric + " " +
            (metric_.empty() ? std::string("-") : format_metric(metric_.mean()));
  }
  line += "  " + (elapsed > 0 ? format_si(static_cast<double>(items_) / elapsed) : "-") + " " +
          options_.unit + "/s";
  line += "  elapsed " + format_duration(elapsed);
  if (!final && batches_ > 0) {
    const double remaining =
        done_ > 0 ? elapsed / static_cast<double>(done_) * static_cast<double>(batches_ - done_)
                  : std::numeric_limits<double>::quiet_NaN();
    line += "  ETA " + format_duration(remaining);
  }
  return line;
}

void ProgressBar::draw(const std::string& line, double now) {
  if (interactive_) {
    // Spaces blank out the tail of a longer previous line.
    const size_t pad = drawn_width_ > line.size() ? drawn_width_ - line.size() : 0;
    out_ << '\r' << line << std::string(pad, ' ') << std::flush;
    drawn_width_ = line.size();
    line_open_ = true;
  } else {
    out_ << line << '\n' << std::flush;
  }
  last_output_time_ = now;
}

}  // namespace mixgrad::train
