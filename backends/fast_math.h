#pragma once
// Branch-free float approximations of exp and the normal distribution, written as plain
// arithmetic so that CPU loops over them vectorize (libm's expf/erff are calls the compiler
// cannot vectorize without -ffast-math). Used where their accuracy is what the op needs: the
// exact-erf GELU in float32, whose erf and exp calls took a quarter of an MoE training step
// (moe_scale_e8_step, perf, 2026-11-25). PyTorch's vectorized CPU GELU uses the same erf
// approximation.
#include <bit>
#include <cstdint>

namespace mixgrad::kernels {

// e^x, within 2 ulp for x in [-87, 88] (Cephes expf: x = n ln2 + r, a degree-5 polynomial for
// e^r, 2^n built in the exponent bits). Inputs outside are clamped to that range and NaN is
// treated as -87 (so the result is always finite; callers that must carry NaN multiply by x).
inline float exp_approx(float x) {
  x = x > -87.0f ? x : -87.0f;  // also maps NaN
  x = x < 88.0f ? x : 88.0f;
  const float scaled = x * 1.44269504088896341f;
  const int n = static_cast<int>(scaled + (scaled >= 0.0f ? 0.5f : -0.5f));
  const float nf = static_cast<float>(n);
  const float r = (x - nf * 0.693359375f) + nf * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;
  return er * std::bit_cast<float>(static_cast<int32_t>((n + 127) << 23));
}

// erf(x) within 1.5e-7 absolute (Abramowitz & Stegun 7.1.26).
inline float erf_approx(float x) {
  const float z = x < 0.0f ? -x : x;
  const float t = 1.0f / (1.0f + 0.3275911f * z);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float y = 1.0f - p * t * exp_approx(-z * z);
  return x < 0.0f ? -y : y;
}

// GELU (exact form, x * Phi(x)) and its derivative Phi(x) + x * phi(x), for float.
inline float gelu_erf_approx(float x) {
  return 0.5f * x * (1.0f + erf_approx(x * 0.70710678118654752440f));
}
inline float gelu_erf_derivative_approx(float x) {
  const float cdf = 0.5f * (1.0f + erf_approx(x * 0.70710678118654752440f));
  const float pdf = exp_approx(-0.5f * x * x) * 0.39894228040143267794f;
  return cdf + x * pdf;
}

}  // namespace mixgrad::kernels
