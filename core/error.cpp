#include "core/error.h"

namespace mixgrad::detail {
std::string to_str(const std::string& s) { return s; }
std::string to_str(const char* s) { return s; }
std::string to_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}
}  // namespace mixgrad::detail
