#include "core/error.h"

#include <string>

namespace mixgrad::detail {
std::string to_str(const std::string& s) {
  return s;
}
std::string to_str(const char* s) {
  return s;
}
std::string to_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}
std::string to_str(const std::vector<int64_t>& values) {
  return to_str(Shape(values));
}

void throw_index_out_of_bounds(const char* op, int64_t value, int64_t dim, int64_t size,
                               bool negative_allowed) {
  const std::string range =
      size == 0 ? std::string("the dim is empty")
                : concat("valid range [", negative_allowed ? -size : 0, ", ", size - 1, "]");
  throw Error(op, concat("index ", value, " is out of bounds for dim ", dim, " with size ", size,
                         " (", range, ")"));
}

}  // namespace mixgrad::detail
