#pragma once
// Element types and the promotion rules binary ops follow.
#include <cstddef>
#include <cstdint>
#include <string>

namespace mixgrad {

// Float16/BFloat16 are reserved for the CUDA backend: the enum, names and sizes already know
// them so storage and printing need no change when their kernels arrive.
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
bool is_floating(DType t);
bool is_integral(DType t, bool include_bool = false);

// PyTorch-style promotion between two tensor dtypes: bool < int32 < int64 < float32 < float64.
DType promote_types(DType a, DType b);

// The dtype used when a tensor of dtype `t` meets a Python-like scalar: integers keep their
// dtype for integral scalars; any floating scalar lifts an integral tensor to the default float.
DType promote_with_scalar(DType t, bool scalar_is_floating);

// Floating dtype used by creation functions that produce floats when none is given.
DType default_dtype();
void set_default_dtype(DType t);

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
