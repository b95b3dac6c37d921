#include "optim/state_text.h"

#include <charconv>
#include <cmath>

#include "core/error.h"

namespace mixgrad::optim::detail {

std::string format_double(double value) {
  char buffer[32];
  // std::to_chars without a precision writes the shortest text that round-trips exactly.
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

std::string format_int(int64_t value) {
  return std::to_string(value);
}

std::optional<double> parse_double(std::string_view text) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto result = std::from_chars(text.data(), end, value);
  if (text.empty() || result.ec != std::errc() || result.ptr != end) return std::nullopt;
  return value;
}

std::optional<int64_t> parse_int(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto result = std::from_chars(text.data(), end, value);
  if (text.empty() || result.ec != std::errc() || result.ptr != end) return std::nullopt;
  return value;
}

std::optional<size_t> parse_index(std::string_view text) {
  if (text.empty() || (text.size() > 1 && text[0] == '0') || text[0] == '-') return std::nullopt;
  size_t value = 0;
  const char* end = text.data() + text.size();
  const auto result = std::from_chars(text.data(), end, value);
  if (result.ec != std::errc() || result.ptr != end) return std::nullopt;
  return value;
}

std::vector<std::string_view> split_name(std::string_view name) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = name.find('.', start);
    parts.push_back(name.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) return parts;
    start = dot + 1;
  }
}

std::string param_label(size_t group, size_t index) {
  return "group " + std::to_string(group) + " parameter " + std::to_string(index);
}

std::string state_prefix(size_t group, size_t index) {
  return "state." + std::to_string(group) + "." + std::to_string(index) + ".";
}

std::string quoted(std::string_view text) {
  return "'" + std::string(text) + "'";
}

void throw_if_problems(const std::string& op, const std::vector<std::string>& problems) {
  if (problems.empty()) return;
  // A state from a different model can mismatch everywhere; the first few say enough.
  constexpr size_t kShown = 20;
  if (problems.size() == 1) throw Error(op, problems[0]);
  std::string detail = std::to_string(problems.size()) + " problems: ";
  for (size_t i = 0; i < problems.size() && i < kShown; ++i) {
    if (i) detail += "; ";
    detail += problems[i];
  }
  if (problems.size() > kShown)
    detail += "; and " + std::to_string(problems.size() - kShown) + " more";
  throw Error(op, detail);
}

}  // namespace mixgrad::optim::detail
