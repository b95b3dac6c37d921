// CUDA random fills: element i draws from Philox block (first_block + i) exactly as
// backends/cpu/random.cpp does, so a seed gives the same tensor on either device. Each value is
// computed in double with the CPU's expression order; the _rn intrinsics keep nvcc from fusing
// a multiply and an add into an FMA, whose single rounding would change the last bit.
#include <array>
#include <type_traits>

#include "backends/cuda/common.cuh"
#include "backends/cuda/kernels.h"

namespace mixgrad::cuda {

namespace {

using Words = std::array<uint32_t, 4>;

// a + b * c rounded after the product and after the sum, as the CPU evaluates it.
__device__ inline double add_product(double a, double b, double c) {
  return __dadd_rn(a, __dmul_rn(b, c));
}

// float and the 16-bit floats draw 24 random bits, like the CPU's float32; others 53.
template <class T>
__device__ double unit(const Words& r) {
  if constexpr (std::is_same_v<acc_t<T>, float>)
    return uint_to_unit_float(r[0]);
  else
    return uint_to_unit_double(r[0], r[1]);
}

struct UniformDraw {
  double low, high;
  template <class T>
  __device__ double operator()(const Words& r) const {
    const double v = add_product(low, high - low, unit<T>(r));
    return v < high ? v : low;  // rounding must not produce `high` itself
  }
};

struct NormalDraw {
  double mean, std;
  template <class T>
  __device__ double operator()(const Words& r) const {
    // Box-Muller; u1 in (0, 1] so the log is finite.
    const double u1 = 1.0 - uint_to_unit_double(r[0], r[1]);
    const double u2 = uint_to_unit_double(r[2], r[3]);
    const double radius = __dmul_rn(std, ::sqrt(-2.0 * ::log(u1)));  // -2 * x is exact
    return add_product(mean, radius, ::cos(__dmul_rn(6.283185307179586, u2)));
  }
};

struct RandintDraw {
  int64_t low;
  uint64_t range;
  template <class T>
  __device__ int64_t operator()(const Words& r) const {
    const uint64_t bits = (static_cast<uint64_t>(r[0]) << 32) | r[1];
    return static_cast<int64_t>(static_cast<uint64_t>(low) + bits % range);
  }
};

template <class T, class Draw>
__global__ void random_kernel(int64_t n, T* out, uint64_t seed, uint64_t first_block, Draw draw) {
  MG_CUDA_KERNEL_LOOP(i, n) {
    out[i] = convert<T>(
        draw.template operator()<T>(philox4x32(seed, first_block + static_cast<uint64_t>(i))));
  }
}

template <class Draw>
void fill_random(const Tensor& out, uint64_t seed, uint64_t first_block, Draw draw) {
  // Element i is out's i-th flat element, as on the CPU: the op hands a fresh contiguous tensor.
  MG_CHECK(out.is_contiguous(), "random", "expected a contiguous output, got strides ",
           out.strides());
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_cuda_dtype(out.dtype(), "random", [&]<class T>() {
    TensorDeviceGuard guard(out);
    random_kernel<<<blocks_for(n), kThreads, 0, stream_of(out)>>>(n, data_of<T>(out), seed,
                                                                  first_block, draw);
    MG_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace

void uniform(const Tensor& out, uint64_t seed, uint64_t first_block, double low, double high) {
  fill_random(out, seed, first_block, UniformDraw{low, high});
}

void normal(const Tensor& out, uint64_t seed, uint64_t first_block, double mean, double std) {
  fill_random(out, seed, first_block, NormalDraw{mean, std});
}

void randint(const Tensor& out, uint64_t seed, uint64_t first_block, int64_t low, int64_t high) {
  fill_random(out, seed, first_block,
              RandintDraw{low, static_cast<uint64_t>(high) - static_cast<uint64_t>(low)});
}

}  // namespace mixgrad::cuda
