#include "train/csv_logger.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <optional>

#include "core/error.h"

namespace mixgrad::train {
namespace {

template <class Float>
std::string shortest_round_trip(Float v) {
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, result.ptr);
}

std::string join_row(const std::vector<std::string>& fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) line += (i ? "," : "") + fields[i];
  return line + "\n";
}

std::string header_line(const std::vector<std::string>& columns) {
  std::vector<std::string> quoted;
  for (const auto& c : columns) quoted.push_back(csv_quote(c));
  return join_row(quoted);
}

std::string join_names(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// The first `size` characters of the file at `path` (fewer if it is shorter); nullopt
// when it cannot be read, e.g. because it does not exist.
std::optional<std::string> read_prefix(const std::string& path, size_t size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string prefix(size, '\0');
  in.read(prefix.data(), static_cast<std::streamsize>(size));
  prefix.resize(static_cast<size_t>(in.gcount()));
  return prefix;
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

std::string CsvValue::to_csv() const {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return csv_quote(v);
        } else if constexpr (std::is_floating_point_v<T>) {
          return shortest_round_trip(v);
        } else {
          return std::to_string(v);
        }
      },
      value_);
}

std::string csv_quote(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

CsvLogger::CsvLogger(std::string path, std::vector<std::string> columns, CsvMode mode)
    : path_(std::move(path)), columns_(std::move(columns)) {
  MG_CHECK(!columns_.empty(), "CsvLogger", "no columns given for '", path_, "'");
  for (size_t i = 0; i < columns_.size(); ++i) {
    MG_CHECK(std::find(columns_.begin(), columns_.begin() + i, columns_[i]) == columns_.begin() + i,
             "CsvLogger", "column '", columns_[i], "' is given twice for '", path_, "'");
  }
  const std::string header = header_line(columns_);
  bool write_header = true;
  if (mode == CsvMode::kAppend) {
    // The header is compared with its newline, so a longer first line does not match.
    const std::optional<std::string> prefix = read_prefix(path_, header.size());
    if (prefix && !prefix->empty()) {
      MG_CHECK(*prefix == header, "CsvLogger", "cannot append to '", path_, "': its header '",
               read_first_line(path_), "' differs from the columns '",
               header.substr(0, header.size() - 1), "'");
      write_header = false;
    }
  }
  out_ = std::make_unique<std::ofstream>(
      path_, std::ios::binary | (mode == CsvMode::kAppend ? std::ios::app : std::ios::trunc));
  MG_CHECK(out_->is_open(), "CsvLogger", "cannot open '", path_,
           "' for writing: ", std::string(std::strerror(errno)));
  if (write_header) write(header);
}

CsvLogger::~CsvLogger() = default;
CsvLogger::CsvLogger(CsvLogger&&) noexcept = default;
CsvLogger& CsvLogger::operator=(CsvLogger&&) noexcept = default;

void CsvLogger::log_cells(const std::vector<Cell>& cells) {
  std::vector<std::string> fields(columns_.size());
  std::vector<bool> given(columns_.size(), false);
  for (const auto& [name, value] : cells) {
    const auto it = std::find(columns_.begin(), columns_.end(), name);
    MG_CHECK(it != columns_.end(), "CsvLogger::log", "unknown column '", name, "' for '", path_,
             "' (columns: ", join_names(columns_), ")");
    const auto i = static_cast<size_t>(it - columns_.begin());
    MG_CHECK(!given[i], "CsvLogger::log", "column '", name, "' is given twice in one row");
    given[i] = true;
    fields[i] = value.to_csv();
  }
  write(join_row(fields));
}

void CsvLogger::write(const std::string& text) {
  MG_CHECK(out_, "CsvLogger", "the logger was moved from");
  *out_ << text << std::flush;
  MG_CHECK(out_->good(), "CsvLogger", "writing to '", path_, "' failed");
}

}  // namespace mixgrad::train
