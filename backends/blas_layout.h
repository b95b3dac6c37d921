#pragma once
// Whether a strided [rows, cols] matrix can be handed to a BLAS (OpenBLAS, cuBLAS) in place, and
// how: the rule every backend's matrix-product kernels share.
#include <algorithm>
#include <cstdint>

namespace mixgrad::kernels {

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

}  // namespace mixgrad::kernels
