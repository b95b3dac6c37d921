#pragma once
// A small wall-clock harness for bench programs whose output format is prescribed (one line per
// case), so Google Benchmark's reporting does not fit: warm-up runs, then repetitions until a
// minimum time has passed and a minimum count is reached; the median is what gets reported
// because a shared machine's outliers are one-sided (preemption only ever adds time).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <regex>
#include <string>
#include <vector>

namespace mixgrad::bench {

struct TimingOptions {
  int warmup = 2;
  int min_reps = 5;
  double min_time_s = 0.3;
};

// Runs f `warmup` times untimed, then times it until both min_reps runs and min_time_s seconds
// are reached; returns the median in milliseconds.
inline double median_ms(const std::function<void()>& f, const TimingOptions& options) {
  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < options.warmup; ++i) f();
  std::vector<double> samples;
  const auto start = Clock::now();
  while (static_cast<int>(samples.size()) < options.min_reps ||
         std::chrono::duration<double>(Clock::now() - start).count() < options.min_time_s) {
    const auto t0 = Clock::now();
    f();
    samples.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  const auto mid = samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2);
  std::nth_element(samples.begin(), mid, samples.end());
  return *mid;
}

// A value with 3 significant digits, without exponent notation ("0.0123", "12.3", "1234").
inline std::string three_significant(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%#.3g", value);
  std::string text = buffer;
  if (text.find('e') != std::string::npos) {
    // %g switches to exponents for values >= 1e3 or < 1e-4; print those in fixed notation.
    const int decimals = value >= 1.0 ? 0 : 6;
    std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
    text = buffer;
  }
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text;
}

// A named workload. `setup` builds the model and inputs only when the case is selected (so a
// filtered run does not allocate every case) and returns the function to time; `report` turns
// the median into the text printed after the name (empty: "<ms> ms").
struct Case {
  std::string name;
  std::function<std::function<void()>()> setup;
  std::function<std::string(double median_ms)> report = {};
};

// Times one case and prints "<name> <value>" (flushed, so long runs show progress).
inline void run_case(const Case& c, const TimingOptions& options) {
  const double ms = median_ms(c.setup(), options);
  const std::string value = c.report ? c.report(ms) : three_significant(ms) + " ms";
  std::printf("%s %s\n", c.name.c_str(), value.c_str());
  std::fflush(stdout);
}

// The cases whose names match `filter` (std::regex_search), in order.
inline std::vector<const Case*> select(const std::vector<Case>& cases, const std::string& filter) {
  const std::regex pattern(filter);
  std::vector<const Case*> selected;
  for (const Case& c : cases) {
    if (std::regex_search(c.name, pattern)) selected.push_back(&c);
  }
  return selected;
}

}  // namespace mixgrad::bench
