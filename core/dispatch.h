#pragma once
// One helper for "run this generic lambda with the C++ type of a dtype":
//   dispatch_dtype(t, "add", [&]<class T>() { ... });
#include <cstdint>
#include <utility>

#include "core/dtype.h"
#include "core/error.h"

namespace mixgrad {

template <class F>
decltype(auto) dispatch_dtype(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
    case DType::Int64:
      return f.template operator()<int64_t>();
    case DType::Int32:
      return f.template operator()<int32_t>();
    case DType::Bool:
      return f.template operator()<bool>();
    default:
      break;
  }
  throw Error(op, std::string("dtype ") + dtype_name(t) + " is not supported on this device");
}

template <class F>
decltype(auto) dispatch_floating(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
    default:
      break;
  }
  if (is_floating(t))
    throw Error(op, std::string("dtype ") + dtype_name(t) + " is not supported on this device");
  throw Error(op, std::string("expected a floating dtype, got ") + dtype_name(t));
}

// Index tensors may be int64 or int32.
template <class F>
decltype(auto) dispatch_index(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Int64:
      return f.template operator()<int64_t>();
    case DType::Int32:
      return f.template operator()<int32_t>();
    default:
      break;
  }
  throw Error(op, std::string("indices must be int64 or int32, got ") + dtype_name(t));
}

// Turns a runtime enum value into a template argument: dispatch_enum<Op, N>(op, [&]<Op o>() {});
template <class Enum, int Count, class F>
void dispatch_enum(Enum value, F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (void)((static_cast<int>(value) == I ? (f.template operator()<static_cast<Enum>(I)>(), true)
                                         : false) ||
           ...);
  }
  (std::make_integer_sequence<int, Count>{});
}

}  // namespace mixgrad
