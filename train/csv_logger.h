#pragma once
// Metrics to a CSV file, one row per log() call, ready for pandas/gnuplot/a spreadsheet.
//
//   train::CsvLogger log("run.csv", {"epoch", "phase", "loss"});
//   log.log({{"epoch", 1}, {"phase", "train"}, {"loss", 0.25}});  // 1,train,0.25
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace mixgrad::train {

// One cell: an integer, a floating-point number or a string.
class CsvValue {
 public:
  template <std::signed_integral T>
  CsvValue(T v) : value_(static_cast<int64_t>(v)) {}
  template <std::unsigned_integral T>
  CsvValue(T v) : value_(static_cast<uint64_t>(v)) {}
  CsvValue(float v) : value_(v) {}
  CsvValue(double v) : value_(v) {}
  CsvValue(std::string v) : value_(std::move(v)) {}
  CsvValue(const char* v) : value_(std::string(v)) {}

  // The cell as written: numbers in the shortest form that reads back to the same value
  // ("0.1", "1e-07", "nan", "inf"), strings quoted when they hold a comma, quote or newline.
  std::string to_csv() const;

 private:
  // float kept apart from double: a float loss prints as "0.1", not "0.10000000149011612".
  std::variant<int64_t, uint64_t, float, double, std::string> value_;
};

// `text` as a CSV field: unchanged, or in double quotes (inner quotes doubled) when it holds a
// comma, a quote or a line break.
std::string csv_quote(const std::string& text);

enum class CsvMode {
  kTruncate,  // start a new file (replacing any old one) with the header
  kAppend,    // add rows to an existing file whose header matches; a missing or empty file
              // gets the header
};

class CsvLogger {
 public:
  using Cell = std::pair<std::string, CsvValue>;

  // Opens `path` and writes the header (unless appending to a file that has it). Throws Error
  // naming the path when it cannot be opened or written, when `columns` is empty or repeats a
  // name, or, in kAppend mode, when the file's header differs from `columns`.
  CsvLogger(std::string path, std::vector<std::string> columns, CsvMode mode = CsvMode::kTruncate);
  ~CsvLogger();
  CsvLogger(CsvLogger&&) noexcept;
  CsvLogger& operator=(CsvLogger&&) noexcept;

  // Writes one row and flushes it, so a run that is killed keeps every row logged so far.
  // Columns not given are left empty. Throws Error (and writes nothing) on an unknown or
  // repeated column name, and Error naming the path if the write fails.
  void log(std::initializer_list<Cell> cells) { log_cells(std::vector<Cell>(cells)); }
  // The same for any range of (name, value) pairs, e.g. std::map<std::string, double>.
  template <class Cells>
  requires requires(const Cells& c) {
    { c.begin()->first } -> std::convertible_to<std::string>;
    { c.begin()->second } -> std::convertible_to<CsvValue>;
  }
  void log(const Cells& cells) { log_cells(std::vector<Cell>(cells.begin(), cells.end())); }

  const std::string& path() const { return path_; }
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  void log_cells(const std::vector<Cell>& cells);
  void write(const std::string& text);

  std::string path_;
  std::vector<std::string> columns_;
  std::unique_ptr<std::ofstream> out_;
};

}  // namespace mixgrad::train
