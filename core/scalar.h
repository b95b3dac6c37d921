#pragma once
// A number passed to an op: remembers whether it was integral, floating or bool, which matters
// for dtype promotion (int tensor * 2 stays int; int tensor * 2.5 becomes float).
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/dtype.h"
#include "core/error.h"

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
    } else if constexpr (std::is_integral_v<T>) {
      kind_ = DType::Int64;
      i_ = static_cast<int64_t>(v);
    } else {
      // Only the double is kept: NaN, infinities and |v| >= 2^63 have no int64 (converting them
      // is undefined behaviour), so an integer is made only where one is asked for, checked.
      kind_ = DType::Float64;
      d_ = static_cast<double>(v);
    }
  }
  double to_double() const { return is_floating() ? d_ : static_cast<double>(i_); }
  // The value as an integer (a floating value truncated toward zero); throws Error for NaN,
  // infinities and values outside int64.
  int64_t to_int() const { return to<int64_t>(); }
  bool is_floating() const { return kind_ == DType::Float64; }
  bool is_bool() const { return kind_ == DType::Bool; }
  // The dtype a 0-dim tensor built from this scalar gets on its own.
  DType natural_dtype() const { return is_floating() ? default_dtype() : kind_; }
  // The value as T, as PyTorch's Scalar::to: throws Error when T cannot hold it (NaN or an
  // out-of-range value as an integer, a finite value beyond a float's range, an int64 outside
  // int32); infinities and NaN convert to floating types as they are.
  template <class T>
  T to() const {
    if constexpr (std::is_same_v<T, bool>) {
      return is_floating() ? d_ != 0 : i_ != 0;
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!is_floating()) return static_cast<T>(i_);
      if constexpr (!std::is_same_v<T, double>) {
        MG_CHECK(!std::isfinite(d_) || std::fabs(d_) <= std::numeric_limits<T>::max(), "Scalar",
                 "value ", d_, " cannot be converted to ", type_name<T>(), " without overflow");
      }
      return static_cast<T>(d_);
    } else {
      static_assert(std::is_integral_v<T> && std::is_signed_v<T>);
      // [min, -min) holds exactly the doubles whose truncation fits T (min is a power of two).
      constexpr auto lo = static_cast<double>(std::numeric_limits<T>::min());
      MG_CHECK(!is_floating() || (d_ >= lo && d_ < -lo), "Scalar", "value ", d_,
               " cannot be converted to ", type_name<T>(), " without overflow");
      MG_CHECK(is_floating() ||
                   (i_ >= std::numeric_limits<T>::min() && i_ <= std::numeric_limits<T>::max()),
               "Scalar", "value ", i_, " cannot be converted to ", type_name<T>(),
               " without overflow");
      return is_floating() ? static_cast<T>(d_) : static_cast<T>(i_);
    }
  }

 private:
  template <class T>
  static const char* type_name() {
    if constexpr (std::is_same_v<T, float>) return "float32";
    if constexpr (std::is_same_v<T, double>) return "float64";
    if constexpr (std::is_same_v<T, int32_t>) return "int32";
    if constexpr (std::is_same_v<T, int64_t>) return "int64";
    return "an integer type";
  }
  DType kind_ = DType::Int64;
  double d_ = 0;   // the value, when floating
  int64_t i_ = 0;  // the value, when integral or bool
};

}  // namespace mixgrad
