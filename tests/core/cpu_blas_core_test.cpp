#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>

#include "backends/cpu_api.h"
#include "ops/creation.h"
#include "ops/linalg.h"

namespace mg = mixgrad;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool pre_avx_core(const std::string& core) {
  for (const char* c : {"Unknown", "Katmai", "Coppermine", "Northwood", "Prescott", "Banias",
                        "Atom", "Core2", "Penryn", "Dunnington", "Nehalem", "Athlon", "Opteron",
                        "Opteron_SSE3", "Barcelona", "Nano", "Bobcat"})
    if (core == c) return true;
  return false;
}

}  // namespace

// OpenBLAS 0.3.21 runs its SSE3 "Prescott" kernels on CPU models it does not know (Emerald
// Rapids, for one); mixgrad must have moved it to the kernels the CPU can run.
TEST(CpuBlas, RunsKernelsOfTheCpusInstructionSet) {
  if (std::getenv("OPENBLAS_CORETYPE")) GTEST_SKIP() << "OPENBLAS_CORETYPE chooses the kernels";
  const std::string core = mg::cpu::blas_core();
  ASSERT_FALSE(core.empty());
#if defined(__x86_64__) && defined(__GNUC__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    EXPECT_FALSE(pre_avx_core(core))
        << "OpenBLAS runs its pre-AVX kernels (" << core << ") on a CPU with AVX2";
  }
#endif
  // And the kernels compute: a product checked against the sum it stands for.
  const auto a =
      mg::arange(0, 64 * 48, 1, mg::TensorOptions().dtype(mg::DType::Float64)).reshape({64, 48}) /
      1000.0;
  const auto b =
      mg::arange(0, 48 * 40, 1, mg::TensorOptions().dtype(mg::DType::Float64)).reshape({48, 40}) /
      700.0;
  const auto c = mg::matmul(a, b).contiguous();
  const double* pa = a.data_ptr<double>();
  const double* pb = b.data_ptr<double>();
  const double* pc = c.data_ptr<double>();
  for (int i = 0; i < 64; i += 7) {
    for (int j = 0; j < 40; j += 5) {
      double sum = 0;
      for (int k = 0; k < 48; ++k) sum += pa[i * 48 + k] * pb[k * 40 + j];
      EXPECT_NEAR(pc[i * 40 + j], sum, 1e-9 * std::abs(sum) + 1e-12) << i << "," << j;
    }
  }
}

// ctest runs this test again as core.cpu_blas_core_chosen_by_user with OPENBLAS_CORETYPE set:
// the user's choice stands.
TEST(CpuBlas, KeepsTheCoreTheUserChose) {
  const char* chosen = std::getenv("OPENBLAS_CORETYPE");
  if (!chosen) GTEST_SKIP() << "run by ctest core.cpu_blas_core_chosen_by_user";
  EXPECT_EQ(lower(mg::cpu::blas_core()), lower(chosen));
}
