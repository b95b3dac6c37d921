#pragma once
// What the CPU matrix-product kernels (gemm.cpp, grouped_gemm.cpp) share about calling OpenBLAS:
// whether a strided matrix can be read in place, the int range check, and the typed call.
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "backends/blas_layout.h"
#include "core/error.h"

namespace mixgrad::cpu {

using kernels::blas_layout;
using kernels::BlasLayout;

// Below about 10^3 multiply-adds OpenBLAS's per-call overhead costs more than the arithmetic
// (measured: batches of 8x8x8 ran faster through a plain loop, 16x16x16 through OpenBLAS).
inline constexpr int64_t kTinyGemm = 1024;

// `v` as a BLAS int; throws Error naming `op` when it does not fit.
inline int blas_int(const char* op, int64_t v) {
  MG_CHECK(v <= std::numeric_limits<int>::max(), op, "dimension or stride ", v,
           " exceeds what BLAS can address (", std::numeric_limits<int>::max(), ")");
  return static_cast<int>(v);
}

// Switches OpenBLAS from its pre-AVX fallback kernels to the ones this CPU can run, once per
// process (blas_core.cpp; cpu_api.h's blas_core() says when). register_kernels() calls it, so it
// has run before any product.
void use_cpu_blas_kernels();

// Makes OpenBLAS run single-threaded on the calling thread. Parallel products are cut into
// blocks for mixgrad's pool instead (thread_pool.h says why fork/join is avoided). The OpenMP
// build of OpenBLAS decides per call from the calling thread's OpenMP thread count, so each
// thread sets its own to 1 (this changes OpenMP loops of the user's own on that thread); the
// pthread build reads its global count, set once per process (openblas_set_num_threads frees
// OpenBLAS's buffers unlocked, so it must not run beside a product).
inline void blas_single_threaded_here() {
  static const bool process_once = (openblas_set_num_threads(1), true);
#ifdef _OPENMP
  thread_local const bool per_thread = (omp_set_num_threads(1), true);
  (void)per_thread;
#endif
  (void)process_once;
}

template <class T>
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, T alpha, const T* a,
               int lda, const T* b, int ldb, T beta, T* c, int ldc) {
  blas_single_threaded_here();
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <class T>
void blas_gemv(CBLAS_TRANSPOSE ta, int m, int n, T alpha, const T* a, int lda, const T* x, int incx,
               T beta, T* y, int incy) {
  blas_single_threaded_here();
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemv(CblasRowMajor, ta, m, n, alpha, a, lda, x, incx, beta, y, incy);
  else
    cblas_dgemv(CblasRowMajor, ta, m, n, alpha, a, lda, x, incx, beta, y, incy);
}

}  // namespace mixgrad::cpu
