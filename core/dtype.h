#pragma once
// Element types and the promotion rules binary ops follow.
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace mixgrad {

// Float16/BFloat16 are computed on by the CUDA backend only (in float32, stored 16-bit); a CPU
// tensor of them can hold and move bytes but CPU kernels reject them.
enum class DType : uint8_t { Bool, Int32, Int64, Float32, Float64, Float16, BFloat16 };

inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kInt32 = DType::Int32;
inline constexpr DType kInt64 = DType::Int64;
inline constexpr DType kBool = DType::Bool;

std::size_t dtype_size(DType t);
const char* dtype_name(DType t);
inline std::string describe(DType t) {
  return dtype_name(t);
}
std::ostream& operator<<(std::ostream& os, DType t);  // "float32"
bool is_floating(DType t);
bool is_integral(DType t, bool include_bool = false);

// PyTorch-style promotion between two tensor dtypes: bool < int32 < int64 < float32 < float64.
DType promote_types(DType a, DType b);

// The dtype used when a tensor of dtype `t` meets a Python-like scalar: integers keep their
// dtype for integral scalars; any floating scalar lifts an integral tensor to the default float.
DType promote_with_scalar(DType t, bool scalar_is_floating);

// Whether a result computed in `from` may be written into a tensor of dtype `to` by an in-place
// op (PyTorch's canCast): everything but floating -> integral and non-bool -> bool, the casts
// that would silently drop fractions or collapse values to true/false.
bool can_cast(DType from, DType to);

// Floating dtype used by creation functions, and so by every module's parameters, when none is
// given (float32 unless changed). A process-wide setting meant to be chosen once at start-up (or
// in a test): it is not synchronised between threads. set_default_dtype throws Error for a
// non-floating dtype other than float32/float64.
DType default_dtype();
void set_default_dtype(DType t);

// Makes `t` the default floating dtype for the guard's lifetime, then restores the previous one:
//   { mg::DefaultDtypeGuard f64(mg::kFloat64); nn::Linear exact(4, 2); }  // float64 parameters
class DefaultDtypeGuard {
 public:
  explicit DefaultDtypeGuard(DType t) : saved_(default_dtype()) { set_default_dtype(t); }
  ~DefaultDtypeGuard() { set_default_dtype(saved_); }
  DefaultDtypeGuard(const DefaultDtypeGuard&) = delete;
  DefaultDtypeGuard& operator=(const DefaultDtypeGuard&) = delete;

 private:
  DType saved_;
};

// C++ type <-> DType mapping.
template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::Float32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::Float64;
};
template <>
struct dtype_of<int64_t> {
  static constexpr DType value = DType::Int64;
};
template <>
struct dtype_of<int32_t> {
  static constexpr DType value = DType::Int32;
};
template <>
struct dtype_of<bool> {
  static constexpr DType value = DType::Bool;
};
template <class T>
inline constexpr DType dtype_of_v = dtype_of<T>::value;

}  // namespace mixgrad
