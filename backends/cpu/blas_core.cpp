// OpenBLAS's DYNAMIC_ARCH builds pick their kernels from the CPU's family and model number. A
// model newer than the library (OpenBLAS 0.3.21, Debian 12's, on an Emerald Rapids Xeon, model
// 207) falls back to the SSE3 "Prescott" kernels: measured there, sgemm ran at 33 GFLOP/s on
// one thread instead of 155 with the AVX-512 kernels the CPU has. Later OpenBLAS releases choose
// from the CPU's features instead; this does the same for the releases that do not.
#include <cblas.h>

#include <cstdlib>
#include <string>
#include <utility>

#include "backends/cpu/blas.h"
#include "backends/cpu_api.h"

// Present only in DYNAMIC_ARCH builds of OpenBLAS (weak, so other builds still link).
extern "C" {
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));
}

namespace mixgrad::cpu {
namespace {

// The newest generation whose instructions this CPU and the OS's saved register state allow
// (GCC's __builtin_cpu_supports checks both), with the OpenBLAS core that has its kernels.
std::pair<int, const char*> generation_of_cpu() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512cd"))
    return {3, "SkylakeX"};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {2, "Haswell"};
  if (__builtin_cpu_supports("avx")) return {1, "Sandybridge"};
#endif
  return {0, nullptr};
}

}  // namespace

void use_cpu_blas_kernels() {
  static const bool done = [] {
    // The user's choice (OpenBLAS's own variable) stands.
    if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit || std::getenv("OPENBLAS_CORETYPE"))
      return true;
    // Initialised already where OpenBLAS is a shared library (its constructor ran first); a
    // static OpenBLAS may not have run it yet. Does nothing when done.
    gotoblas_dynamic_init();
    // "Prescott" is where 0.3.21 falls back when it does not know the CPU's model; a core it
    // chose itself is left alone.
    const auto [cpu_generation, core] = generation_of_cpu();
    if (blas_core() != "Prescott" || cpu_generation == 0) return true;
    // gotoblas_dynamic_init() reads OPENBLAS_CORETYPE only; it is set for the call alone, so
    // that programs this one starts make their own choice.
    setenv("OPENBLAS_CORETYPE", core, 1);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");
    return true;
  }();
  (void)done;
}

// Before main where the library is linked into the program, so that no other thread is reading
// the environment or running a product. (A program that loads mixgrad later, with dlopen, while
// other threads use OpenBLAS should set OPENBLAS_CORETYPE itself: the switch is not safe beside
// a running product.)
[[maybe_unused]] const bool switched_at_start = (use_cpu_blas_kernels(), true);

std::string blas_core() {
  const char* name = openblas_get_corename();
  return name ? name : "";
}

}  // namespace mixgrad::cpu
