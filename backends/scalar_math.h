#pragma once
// Per-element math of the unary and binary op codes, written once for every backend
// (MG_HOST_DEVICE lets the CUDA backend compile the same definitions).
#include <cmath>
#include <limits>
#include <type_traits>

#include "backends/fast_math.h"
#include "backends/kernels.h"
#include "core/host_device.h"

namespace mixgrad::kernels {

// Ops that only make sense on floating values; the op layer promotes integer inputs first.
constexpr bool unary_needs_float(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg:
    case UnaryOp::Abs:
    case UnaryOp::Sign:
    case UnaryOp::Square:
    case UnaryOp::Relu:
    case UnaryOp::Clamp:
    case UnaryOp::LogicalNot:
    case UnaryOp::Floor:
    case UnaryOp::Ceil:
    case UnaryOp::Round:
      return false;
    default:
      return true;
  }
}

// Whether integer operands are promoted to the default float dtype: true division (so they never
// divide by an integer zero), pow, and the fused activation pieces. Listed, not a range of op
// codes, as is_comparison is.
constexpr bool binary_needs_float(BinaryOp op) {
  switch (op) {
    case BinaryOp::Div:
    case BinaryOp::Pow:
    case BinaryOp::ReluBackward:
    case BinaryOp::GeluErfBackward:
    case BinaryOp::GeluTanhBackward:
    case BinaryOp::EluBackward:
    case BinaryOp::LeakyReluBackward:
    case BinaryOp::SigmoidBackward:
    case BinaryOp::TanhBackward:
    case BinaryOp::SoftplusBackward:
    case BinaryOp::ClampBackward:
    case BinaryOp::SiluMul:
    case BinaryOp::SiluSlope:
      return true;
    default:
      return false;
  }
}

// `v` as T, saturating at T's range for integers: a clamp bound of +-inf (a missing bound) or
// one beyond the range must not go through an out-of-range conversion, which is undefined.
template <class T>
MG_HOST_DEVICE inline T saturate_cast(double v) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v);
  } else {
    constexpr T lowest = std::numeric_limits<T>::lowest(), highest = std::numeric_limits<T>::max();
    if (v <= static_cast<double>(lowest)) return lowest;
    // For int64, double(max) rounds up to 2^63, itself out of range: hence >=.
    if (v >= static_cast<double>(highest)) return highest;
    return static_cast<T>(v);
  }
}

template <UnaryOp Op, class T>
MG_HOST_DEVICE inline auto unary_fn(T x, OpParams p) {
  using std::exp, std::log, std::sqrt, std::tanh, std::erf, std::log1p, std::expm1;
  if constexpr (Op == UnaryOp::LogicalNot) {
    return !static_cast<bool>(x);
  } else if constexpr (std::is_same_v<T, bool>) {
    // bool tensors reach value ops only through abs/relu/clamp-like identities.
    if constexpr (Op == UnaryOp::Neg || Op == UnaryOp::Sign)
      return static_cast<bool>(x);
    else
      return x;
  } else if constexpr (Op == UnaryOp::Neg) {
    return static_cast<T>(-x);
  } else if constexpr (Op == UnaryOp::Abs) {
    return x < T(0) ? static_cast<T>(-x) : x;
  } else if constexpr (Op == UnaryOp::Sign) {
    return static_cast<T>((T(0) < x) - (x < T(0)));
  } else if constexpr (Op == UnaryOp::Square) {
    return static_cast<T>(x * x);
  } else if constexpr (Op == UnaryOp::Relu) {
    return x > T(0) ? x : T(0);
  } else if constexpr (Op == UnaryOp::Clamp) {
    const T lo = saturate_cast<T>(p.a), hi = saturate_cast<T>(p.b);
    if constexpr (std::is_floating_point_v<T>) {
      if (x != x) return x;  // NaN passes through, as in PyTorch
    }
    return x < lo ? lo : (x > hi ? hi : x);
  } else if constexpr (Op == UnaryOp::Floor || Op == UnaryOp::Ceil || Op == UnaryOp::Round) {
    if constexpr (std::is_floating_point_v<T>) {
      if constexpr (Op == UnaryOp::Floor)
        return std::floor(x);
      else if constexpr (Op == UnaryOp::Ceil)
        return std::ceil(x);
      else
        return std::nearbyint(x);  // round half to even, as PyTorch
    } else {
      return x;
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if constexpr (Op == UnaryOp::Exp)
      return exp(x);
    else if constexpr (Op == UnaryOp::Log)
      return log(x);
    else if constexpr (Op == UnaryOp::Log1p)
      return log1p(x);
    else if constexpr (Op == UnaryOp::Expm1)
      return expm1(x);
    else if constexpr (Op == UnaryOp::Sqrt)
      return sqrt(x);
    else if constexpr (Op == UnaryOp::Rsqrt)
      return T(1) / sqrt(x);
    else if constexpr (Op == UnaryOp::Reciprocal)
      return T(1) / x;
    else if constexpr (Op == UnaryOp::Sin)
      return std::sin(x);
    else if constexpr (Op == UnaryOp::Cos)
      return std::cos(x);
    else if constexpr (Op == UnaryOp::GeluErf) {
#if !defined(__CUDA_ARCH__)  // host-only approximation; CUDA devices have a fast erff
      if constexpr (std::is_same_v<T, float>) return gelu_erf_approx(x);  // vectorizes
#endif
      return T(0.5) * x * (T(1) + erf(x * T(0.70710678118654752440)));
    } else if constexpr (Op == UnaryOp::GeluTanh) {
      const T k = T(0.79788456080286535588);  // sqrt(2/pi)
      return T(0.5) * x * (T(1) + tanh(k * (x + T(0.044715) * x * x * x)));
    } else if constexpr (Op == UnaryOp::Elu)
      return x > T(0) ? x : static_cast<T>(p.a) * expm1(x);
    else if constexpr (Op == UnaryOp::LeakyRelu)
      return x > T(0) ? x : static_cast<T>(p.a) * x;
    else if constexpr (Op == UnaryOp::Sigmoid)
      return T(1) / (T(1) + exp(-x));
    else if constexpr (Op == UnaryOp::Silu)
      return x / (T(1) + exp(-x));
    else if constexpr (Op == UnaryOp::Tanh)
      return tanh(x);
    else if constexpr (Op == UnaryOp::Softplus) {
      const T bx = static_cast<T>(p.a) * x;
      return bx > static_cast<T>(p.b) ? x : log1p(exp(bx)) / static_cast<T>(p.a);
    } else if constexpr (Op == UnaryOp::Erf)
      return erf(x);
    else
      return x;
  } else {
    return x;  // float-only ops never reach integer kernels (the op layer promotes)
  }
}

template <BinaryOp Op, class T>
MG_HOST_DEVICE inline auto binary_fn(T x, T y, OpParams p) {
  using std::exp, std::tanh, std::erf;
  if constexpr (Op == BinaryOp::Eq)
    return x == y;
  else if constexpr (Op == BinaryOp::Ne)
    return x != y;
  else if constexpr (Op == BinaryOp::Lt)
    return x < y;
  else if constexpr (Op == BinaryOp::Le)
    return x <= y;
  else if constexpr (Op == BinaryOp::Gt)
    return x > y;
  else if constexpr (Op == BinaryOp::Ge)
    return x >= y;
  else if constexpr (Op == BinaryOp::LogicalAnd)
    return static_cast<bool>(x) && static_cast<bool>(y);
  else if constexpr (Op == BinaryOp::LogicalOr)
    return static_cast<bool>(x) || static_cast<bool>(y);
  else if constexpr (std::is_same_v<T, bool>) {
    if constexpr (Op == BinaryOp::Add || Op == BinaryOp::Maximum)
      return x || y;
    else if constexpr (Op == BinaryOp::Mul || Op == BinaryOp::Minimum)
      return x && y;
    else
      return x != y;
  } else if constexpr (Op == BinaryOp::Add) {
    return static_cast<T>(x + static_cast<T>(p.a) * y);
  } else if constexpr (Op == BinaryOp::Sub) {
    return static_cast<T>(x - static_cast<T>(p.a) * y);
  } else if constexpr (Op == BinaryOp::Mul) {
    return static_cast<T>(x * y);
  } else if constexpr (Op == BinaryOp::Div) {
    return static_cast<T>(x / y);
  } else if constexpr (Op == BinaryOp::Maximum) {
    if constexpr (std::is_floating_point_v<T>) {
      if (x != x || y != y) return x + y;  // propagate NaN
    }
    return x > y ? x : y;
  } else if constexpr (Op == BinaryOp::Minimum) {
    if constexpr (std::is_floating_point_v<T>) {
      if (x != x || y != y) return x + y;
    }
    return x < y ? x : y;
  } else if constexpr (Op == BinaryOp::Remainder) {
    if constexpr (std::is_floating_point_v<T>) {
      T r = std::fmod(x, y);
      return (r != T(0) && ((r < T(0)) != (y < T(0)))) ? r + y : r;
    } else {
      T r = x % y;
      return (r != 0 && ((r < 0) != (y < 0))) ? static_cast<T>(r + y) : r;
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if constexpr (Op == BinaryOp::Pow) {
      return std::pow(x, y);
    } else if constexpr (Op == BinaryOp::ReluBackward) {
      return y > T(0) ? x : T(0);
    } else if constexpr (Op == BinaryOp::GeluErfBackward) {
#if !defined(__CUDA_ARCH__)
      if constexpr (std::is_same_v<T, float>) return x * gelu_erf_derivative_approx(y);
#endif
      const T cdf = T(0.5) * (T(1) + erf(y * T(0.70710678118654752440)));
      const T pdf = exp(T(-0.5) * y * y) * T(0.39894228040143267794);
      return x * (cdf + y * pdf);
    } else if constexpr (Op == BinaryOp::GeluTanhBackward) {
      const T k = T(0.79788456080286535588), c = T(0.044715);
      const T inner = k * (y + c * y * y * y);
      const T t = tanh(inner);
      const T dinner = k * (T(1) + T(3) * c * y * y);
      return x * (T(0.5) * (T(1) + t) + T(0.5) * y * (T(1) - t * t) * dinner);
    } else if constexpr (Op == BinaryOp::EluBackward) {
      return y > T(0) ? x : x * static_cast<T>(p.a) * exp(y);
    } else if constexpr (Op == BinaryOp::LeakyReluBackward) {
      return y > T(0) ? x : x * static_cast<T>(p.a);
    } else if constexpr (Op == BinaryOp::SigmoidBackward) {
      return x * y * (T(1) - y);
    } else if constexpr (Op == BinaryOp::SiluMul) {
      return x / (T(1) + exp(-x)) * y;
    } else if constexpr (Op == BinaryOp::SiluSlope) {
      return y * (T(1) + x * (T(1) - y));
    } else if constexpr (Op == BinaryOp::TanhBackward) {
      return x * (T(1) - y * y);
    } else if constexpr (Op == BinaryOp::SoftplusBackward) {
      const T bx = static_cast<T>(p.a) * y;
      return bx > static_cast<T>(p.b) ? x : x / (T(1) + exp(-bx));
    } else if constexpr (Op == BinaryOp::ClampBackward) {
      return (y >= static_cast<T>(p.a) && y <= static_cast<T>(p.b)) ? x : T(0);
    } else {
      return x;
    }
  } else {
    return x;  // float-only ops never reach integer kernels
  }
}

}  // namespace mixgrad::kernels
