#pragma once
// Exact text forms of the numbers in an OptimizerState, and parsing of its dotted names. Internal
// to optim/: scalars travel as decimal strings so any checkpoint format can store them, and a
// double must come back bit for bit.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mixgrad::optim::detail {

// Shortest decimal text that parses back to exactly `value` ("0.1", "1e-08", "inf").
std::string format_double(double value);
std::string format_int(int64_t value);
// The whole of `text` as a number, or nullopt (no leading/trailing junk, no empty string).
std::optional<double> parse_double(std::string_view text);
std::optional<int64_t> parse_int(std::string_view text);
// A non-negative index (no sign, no leading zeros except "0"), or nullopt.
std::optional<size_t> parse_index(std::string_view text);
// "state.0.1.exp_avg" -> {"state", "0", "1", "exp_avg"}.
std::vector<std::string_view> split_name(std::string_view name);

// "group 1 parameter 0", for messages.
std::string param_label(size_t group, size_t index);
// "state.<group>.<index>.", the start of a parameter's state names.
std::string state_prefix(size_t group, size_t index);
// "'text'".
std::string quoted(std::string_view text);

// Throws Error(op, problem) for one problem, Error(op, "<n> problems: a; b; ...") for several.
void throw_if_problems(const std::string& op, const std::vector<std::string>& problems);

}  // namespace mixgrad::optim::detail
