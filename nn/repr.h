#pragma once
// Number formatting for module printouts: shortest form that reads back ("0.01", "1e-05").
#include <charconv>
#include <string>

namespace mixgrad::nn {

inline std::string format_number(double v) {
  char buffer[32];
  auto end = std::to_chars(buffer, buffer + sizeof buffer, v).ptr;
  return std::string(buffer, end);
}

}  // namespace mixgrad::nn
