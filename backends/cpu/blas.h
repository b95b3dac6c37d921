#pragma once
// What the CPU matrix-product kernels (gemm.cpp, grouped_gemm.cpp) share about calling OpenBLAS:
// whether a strided matrix can be read in place, the int range check, and the typed call.
#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/error.h"

namespace mixgrad::cpu {

// Below about 10^3 multiply-adds OpenBLAS's per-call overhead costs more than the arithmetic
// (measured: batches of 8x8x8 ran faster through a plain loop, 16x16x16 through OpenBLAS).
inline constexpr int64_t kTinyGemm = 1024;

// How BLAS reads one [rows, cols] matrix in place, if it can.
struct BlasLayout {
  bool ok = false;
  bool transposed = false;  // stored as cols x rows row-major
  int64_t ld = 0;
};

inline BlasLayout blas_layout(int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride) {
  // A dim of size <= 1 is never stepped along, so its stride may be anything.
  const bool unit_cols = cols <= 1 || col_stride == 1;
  const bool unit_rows = rows <= 1 || row_stride == 1;
  if (unit_cols && (rows <= 1 || row_stride >= std::max<int64_t>(cols, 1)))
    return {true, false, rows <= 1 ? std::max<int64_t>(cols, 1) : row_stride};
  if (unit_rows && (cols <= 1 || col_stride >= std::max<int64_t>(rows, 1)))
    return {true, true, cols <= 1 ? std::max<int64_t>(rows, 1) : col_stride};
  return {};
}

// `v` as a BLAS int; throws Error naming `op` when it does not fit.
inline int blas_int(const char* op, int64_t v) {
  MG_CHECK(v <= std::numeric_limits<int>::max(), op, "dimension or stride ", v,
           " exceeds what BLAS can address (", std::numeric_limits<int>::max(), ")");
  return static_cast<int>(v);
}

template <class T>
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, T alpha, const T* a,
               int lda, const T* b, int ldb, T beta, T* c, int ldc) {
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <class T>
void blas_gemv(CBLAS_TRANSPOSE ta, int m, int n, T alpha, const T* a, int lda, const T* x, int incx,
               T beta, T* y, int incy) {
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemv(CblasRowMajor, ta, m, n, alpha, a, lda, x, incx, beta, y, incy);
  else
    cblas_dgemv(CblasRowMajor, ta, m, n, alpha, a, lda, x, incx, beta, y, incy);
}

}  // namespace mixgrad::cpu
