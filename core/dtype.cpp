#include "core/dtype.h"

#include <ostream>

#include "core/error.h"

namespace mixgrad {

std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::Bool:
      return 1;
    case DType::Int32:
      return 4;
    case DType::Int64:
      return 8;
    case DType::Float32:
      return 4;
    case DType::Float64:
      return 8;
    case DType::Float16:
      return 2;
    case DType::BFloat16:
      return 2;
  }
  return 0;
}

std::ostream& operator<<(std::ostream& os, DType t) {
  return os << dtype_name(t);
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::Bool:
      return "bool";
    case DType::Int32:
      return "int32";
    case DType::Int64:
      return "int64";
    case DType::Float32:
      return "float32";
    case DType::Float64:
      return "float64";
    case DType::Float16:
      return "float16";
    case DType::BFloat16:
      return "bfloat16";
  }
  return "?";
}

bool is_floating(DType t) {
  return t == DType::Float32 || t == DType::Float64 || t == DType::Float16 || t == DType::BFloat16;
}

bool is_integral(DType t, bool include_bool) {
  return t == DType::Int32 || t == DType::Int64 || (include_bool && t == DType::Bool);
}

static int promotion_rank(DType t) {
  switch (t) {
    case DType::Bool:
      return 0;
    case DType::Int32:
      return 1;
    case DType::Int64:
      return 2;
    case DType::Float16:
      return 3;
    case DType::BFloat16:
      return 3;
    case DType::Float32:
      return 4;
    case DType::Float64:
      return 5;
  }
  return 0;
}

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  // float16 with bfloat16 has no exact common type narrower than float32.
  if ((a == DType::Float16 && b == DType::BFloat16) ||
      (a == DType::BFloat16 && b == DType::Float16))
    return DType::Float32;
  return promotion_rank(a) >= promotion_rank(b) ? a : b;
}

DType promote_with_scalar(DType t, bool scalar_is_floating) {
  if (scalar_is_floating && !is_floating(t)) return default_dtype();
  if (!scalar_is_floating && t == DType::Bool) return DType::Int64;
  return t;
}

bool can_cast(DType from, DType to) {
  if (is_floating(from) && !is_floating(to)) return false;
  return from == DType::Bool || to != DType::Bool;
}

namespace {
DType g_default_dtype = DType::Float32;
}

DType default_dtype() {
  return g_default_dtype;
}

void set_default_dtype(DType t) {
  if (t != DType::Float32 && t != DType::Float64)
    throw Error("set_default_dtype",
                std::string("expected float32 or float64, got ") + dtype_name(t));
  g_default_dtype = t;
}

}  // namespace mixgrad
