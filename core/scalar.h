#pragma once
// A number passed to an op: remembers whether it was integral, floating or bool, which matters
// for dtype promotion (int tensor * 2 stays int; int tensor * 2.5 becomes float).
#include <concepts>
#include <cstdint>
#include <type_traits>

#include "core/dtype.h"

namespace mixgrad {

class Scalar {
 public:
  Scalar() = default;
  template <class T>
  requires std::is_arithmetic_v<T> Scalar(
      T v) {  // NOLINT(google-explicit-constructor): numbers convert implicitly, as in PyTorch
    if constexpr (std::is_same_v<T, bool>) {
      kind_ = DType::Bool;
      i_ = v;
      d_ = v;
    } else if constexpr (std::is_integral_v<T>) {
      kind_ = DType::Int64;
      i_ = static_cast<int64_t>(v);
      d_ = static_cast<double>(v);
    } else {
      kind_ = DType::Float64;
      d_ = static_cast<double>(v);
      i_ = static_cast<int64_t>(v);
    }
  }
  double to_double() const { return d_; }
  int64_t to_int() const { return i_; }
  bool is_floating() const { return kind_ == DType::Float64; }
  bool is_bool() const { return kind_ == DType::Bool; }
  // The dtype a 0-dim tensor built from this scalar gets on its own.
  DType natural_dtype() const { return is_floating() ? default_dtype() : kind_; }
  template <class T>
  T to() const {
    if constexpr (std::is_floating_point_v<T>)
      return static_cast<T>(d_);
    else if constexpr (std::is_same_v<T, bool>)
      return d_ != 0;
    else
      return is_floating() ? static_cast<T>(d_) : static_cast<T>(i_);
  }

 private:
  DType kind_ = DType::Int64;
  double d_ = 0;
  int64_t i_ = 0;
};

}  // namespace mixgrad
