#pragma once
// Seedable random numbers. Philox4x32-10 is counter based: element i of a draw depends only on
// (seed, offset + i), so kernels can fill in parallel (and a CUDA kernel can reproduce the CPU's
// stream) without sharing state. Each draw advances the offset past the numbers it used.
#include <array>
#include <cstdint>
#include <mutex>

#include "core/host_device.h"

namespace mixgrad {

class Generator {
 public:
  explicit Generator(uint64_t seed = 67280421310721ULL) : seed_(seed) {}
  void manual_seed(uint64_t seed) {
    std::lock_guard<std::mutex> lock(mutex_);
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  // Reserves `n` 128-bit counter blocks and returns the first; the caller owns
  // blocks [first, first + n).
  uint64_t reserve(uint64_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    uint64_t first = offset_;
    offset_ += n;
    return first;
  }

 private:
  std::mutex mutex_;
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The generator used when an op is given none.
Generator& default_generator();
// Seeds the default generator (like torch::manual_seed).
void manual_seed(uint64_t seed);

// Four 32-bit random words for counter block `counter` under `seed`.
MG_HOST_DEVICE inline std::array<uint32_t, 4> philox4x32(uint64_t seed, uint64_t counter) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0,
           c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t{0xD2511F53} * c0;
    const uint64_t p1 = uint64_t{0xCD9E8D57} * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9;
    k1 += 0xBB67AE85;
  }
  return {c0, c1, c2, c3};
}

// Uniform in [0, 1) from 32 random bits (24 significant bits for float) or 2x32 (double).
MG_HOST_DEVICE inline float uint_to_unit_float(uint32_t x) {
  return static_cast<float>(x >> 8) * 0x1.0p-24f;
}
MG_HOST_DEVICE inline double uint_to_unit_double(uint32_t hi, uint32_t lo) {
  return static_cast<double>(((static_cast<uint64_t>(hi) << 32) | lo) >> 11) * 0x1.0p-53;
}

}  // namespace mixgrad
