#pragma once
// The one exception type mixgrad throws for bad input: it always names the op at fault.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/shape.h"

namespace mixgrad {

class Error : public std::runtime_error {
 public:
  Error(std::string op, const std::string& detail)
      : std::runtime_error(op + ": " + detail), op_(std::move(op)) {}
  const std::string& op() const { return op_; }

 private:
  std::string op_;
};

// Throws Error(op, detail) when `cond` is false; `detail` is only built on failure.
#define MG_CHECK(cond, op, ...)                                                        \
  do {                                                                                 \
    if (!(cond)) throw ::mixgrad::Error((op), ::mixgrad::detail::concat(__VA_ARGS__)); \
  } while (0)

namespace detail {
std::string to_str(const std::string& s);
std::string to_str(const char* s);
std::string to_str(const Shape& shape);                  // "[2, 3]"
std::string to_str(const std::vector<int64_t>& values);  // "[2, 3]"
template <class T>
std::string to_str(const T& v) {
  if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return std::string(std::string_view(v));  // char*, string_view
  } else if constexpr (requires { std::to_string(v); }) {
    return std::to_string(v);
  } else {
    return describe(v);  // found by ADL (Tensor, DType, Device)
  }
}
// The Error every index op and index kernel raises for a bad index value: names `op`, the
// value, the dim it indexes and the valid range ([-size, size) when `negative_allowed`).
[[noreturn]] void throw_index_out_of_bounds(const char* op, int64_t value, int64_t dim,
                                            int64_t size, bool negative_allowed = false);

template <class... Args>
std::string concat(const Args&... args) {
  std::string s;
  ((s += to_str(args)), ...);
  return s;
}
}  // namespace detail

}  // namespace mixgrad
