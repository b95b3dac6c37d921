#pragma once
// A small wall-clock harness for bench programs whose output format is prescribed (one line per
// case), so Google Benchmark's reporting does not fit: warm-up runs, then repetitions until a
// minimum time has passed and a minimum count is reached; the median is what gets reported
// because a shared machine's outliers are one-sided (preemption only ever adds time).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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
  // The multiply-add work of the case's matrix products in GFLOP (2 per multiply-add), where the
  // program knows it: `--gemm-flops` prints it, bench/gemm_floor.sh turns it into the time those
  // products take at the same run's gemm_peak.
  double gemm_gflop = 0;
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

// The command line every bench program shares:
//   PROGRAM [--threads N] [--filter REGEX] [--min-time S] [--list] [--gemm-flops]
// --threads calls set_threads(N) before any case is built; the selected cases are then timed (or
// listed, or their "<case> <GFLOP> GFLOP" printed where known) in order. Bad arguments print the
// usage and exit with status 2.
inline int run_main(int argc, char** argv, const char* program,
                    const std::function<std::vector<Case>()>& all_cases,
                    const std::function<void(int threads)>& set_threads) {
  auto usage_error = [program](const std::string& message) {
    std::fprintf(stderr,
                 "%s: %s\nusage: %s [--threads N] [--filter REGEX] [--min-time S] [--list] "
                 "[--gemm-flops]\n",
                 program, message.c_str(), program);
    std::exit(2);
  };
  auto flag_value = [&](int& i) -> std::string {
    if (i + 1 >= argc) usage_error(std::string("missing value after ") + argv[i]);
    return argv[++i];
  };
  std::string filter = ".*";
  bool list = false, gemm_flops = false;
  TimingOptions timing;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--threads") {
      const int threads = std::atoi(flag_value(i).c_str());
      if (threads < 1) usage_error("--threads needs a positive integer");
      set_threads(threads);
    } else if (arg == "--filter") {
      filter = flag_value(i);
    } else if (arg == "--min-time") {
      timing.min_time_s = std::atof(flag_value(i).c_str());
      if (timing.min_time_s < 0) usage_error("--min-time needs a non-negative number of seconds");
    } else if (arg == "--list") {
      list = true;
    } else if (arg == "--gemm-flops") {
      gemm_flops = true;
    } else {
      usage_error("unknown argument " + arg);
    }
  }
  const std::vector<Case> cases = all_cases();
  std::vector<const Case*> selected;
  try {
    selected = select(cases, filter);
  } catch (const std::regex_error& e) {
    usage_error("bad --filter regex: " + std::string(e.what()));
  }
  for (const Case* c : selected) {
    if (list) {
      std::printf("%s\n", c->name.c_str());
    } else if (gemm_flops) {
      if (c->gemm_gflop > 0) std::printf("%s %.4g GFLOP\n", c->name.c_str(), c->gemm_gflop);
    } else {
      run_case(*c, timing);
    }
  }
  return 0;
}

}  // namespace mixgrad::bench
