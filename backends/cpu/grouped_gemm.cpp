// CPU grouped matrix product: one OpenBLAS call per non-empty group, straight on the operands'
// memory (each group is a pointer offset into them), so nothing is allocated per group. Tiny
// groups, and empty inner ranges (whose result is zero), go to a plain loop instead.
//
// An operand BLAS cannot read in place (neither matrix dim unit-stride) is packed once, as a
// whole. The groups run as pieces on the pool (product_split.h): a large group is cut into
// blocks of output rows or columns; OpenBLAS itself is single-threaded.
#include <algorithm>
#include <vector>

#include "backends/cpu/blas.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/product_split.h"
#include "core/dispatch.h"
#include "core/factory.h"

namespace mixgrad::cpu {

namespace {

using kernels::GroupedDim;

// How the matrices of a 2-D operand (or each matrix of a 3-D one) are laid out. A block of
// consecutive rows or columns has the same layout, only a shifted start.
struct MatrixLayout {
  int64_t row_stride = 0, col_stride = 0;
  BlasLayout blas;
};

MatrixLayout matrix_layout(const Tensor& t) {
  const int64_t d = t.dim();
  const int64_t rs = t.stride(d - 2), cs = t.stride(d - 1);
  return {rs, cs, blas_layout(t.size(d - 2), t.size(d - 1), rs, cs)};
}

// `t` itself when BLAS reads its matrices in place, else a contiguous copy.
Tensor blas_readable(const Tensor& t) {
  if (matrix_layout(t).blas.ok) return t;
  Tensor packed = empty(t.shape(), TensorOptions(t.dtype()));
  copy(packed, t);
  return packed;
}

// c = a @ b for a [m, k], b [k, n] and row-major c with leading dimension ldc.
template <class T>
void block_product(int64_t m, int64_t n, int64_t k, const T* a, const MatrixLayout& la, const T* b,
                   const MatrixLayout& lb, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k > 0 && m * n * k >= kTinyGemm) {
    // Dims and strides were range-checked once for the whole operands by check_blas_range.
    blas_gemm<T>(la.blas.transposed ? CblasTrans : CblasNoTrans,
                 lb.blas.transposed ? CblasTrans : CblasNoTrans, static_cast<int>(m),
                 static_cast<int>(n), static_cast<int>(k), T(1), a, static_cast<int>(la.blas.ld), b,
                 static_cast<int>(lb.blas.ld), T(0), c, static_cast<int>(ldc));
    return;
  }
  // Row i of c accumulates a[i, p] * b[p, :] in place, so the inner loop runs along b's rows.
  for (int64_t i = 0; i < m; ++i) {
    T* c_row = c + i * ldc;
    std::fill(c_row, c_row + n, T(0));
    for (int64_t p = 0; p < k; ++p) {
      const T x = a[i * la.row_stride + p * la.col_stride];
      const T* b_row = b + p * lb.row_stride;
      for (int64_t j = 0; j < n; ++j) c_row[j] += x * b_row[j * lb.col_stride];
    }
  }
}

// Throws Error unless every dim and leading dimension BLAS may see fits in an int.
void check_blas_range(const Tensor& t, const MatrixLayout& layout) {
  const int64_t d = t.dim();
  blas_int("grouped_gemm", t.size(d - 2));
  blas_int("grouped_gemm", t.size(d - 1));
  blas_int("grouped_gemm", layout.blas.ld);
}

// Checks group_sizes (non-negative, summing to `total`) and returns its elements' stride.
int64_t checked_sizes_stride(const Tensor& group_sizes, int64_t total) {
  const int64_t* sizes = group_sizes.data_ptr<int64_t>();
  const int64_t stride = group_sizes.stride(0);
  int64_t sum = 0;
  for (int64_t g = 0; g < group_sizes.numel(); ++g) {
    const int64_t size = sizes[g * stride];
    MG_CHECK(size >= 0, "grouped_gemm", "group ", g, " has negative size ", size);
    sum += size;
  }
  MG_CHECK(sum == total, "grouped_gemm", "group sizes sum to ", sum, " but the grouped dim has ",
           total, " rows");
  return stride;
}

template <class T>
void grouped_gemm_typed(const Tensor& out, const Tensor& a_in, const Tensor& b_in,
                        const Tensor& group_sizes, GroupedDim grouped) {
  const bool rows = grouped == GroupedDim::M;
  const Tensor a = blas_readable(a_in), b = blas_readable(b_in);
  const MatrixLayout la = matrix_layout(a), lb = matrix_layout(b);
  check_blas_range(a, la);
  check_blas_range(b, lb);
  check_blas_range(out, matrix_layout(out));
  const int64_t groups = group_sizes.numel();
  const int64_t total = rows ? a.size(0) : a.size(1);
  const int64_t sizes_stride = checked_sizes_stride(group_sizes, total);
  const int64_t* sizes = group_sizes.data_ptr<int64_t>();
  const int64_t n = out.size(-1);
  const int64_t fixed = rows ? a.size(1) : a.size(0);  // K for GroupedDim::M, M for K
  const int64_t b_group_stride = rows && b.size(0) > 1 ? b.stride(0) : 0;
  const T* pa = a.data_ptr<T>();
  const T* pb = b.data_ptr<T>();
  T* pc = out.data_ptr<T>();
  // Where each group starts along the grouped dim: one pass, so that a piece finds its group's
  // rows without summing the sizes before it.
  std::vector<int64_t> offsets(groups + 1, 0);
  for (int64_t g = 0; g < groups; ++g) offsets[g + 1] = offsets[g] + sizes[g * sizes_stride];
  const int64_t m_fixed = rows ? 0 : fixed;
  auto shape_of = [&](int64_t g) {
    const int64_t size = offsets[g + 1] - offsets[g];
    return rows ? ProductShape{size, n, fixed} : ProductShape{m_fixed, n, size};
  };
  run_products(groups, shape_of, [&](const ProductPiece& p) {
    const int64_t g = p.product, offset = offsets[g], size = offsets[g + 1] - offset;
    const ProductShape s = shape_of(g);
    // The piece's output block: rows [r0, r0 + pm), columns [c0, c0 + pn) of group g's product.
    const int64_t r0 = p.rows ? p.begin : 0, pm = p.rows ? p.end - p.begin : s.m;
    const int64_t c0 = p.rows ? 0 : p.begin, pn = p.rows ? s.n : p.end - p.begin;
    if (rows) {
      block_product<T>(pm, pn, fixed, pa + (offset + r0) * la.row_stride, la,
                       pb + g * b_group_stride + c0 * lb.col_stride, lb,
                       pc + (offset + r0) * n + c0, n);
    } else {
      block_product<T>(pm, pn, size, pa + offset * la.col_stride + r0 * la.row_stride, la,
                       pb + offset * lb.row_stride + c0 * lb.col_stride, lb,
                       pc + g * fixed * n + r0 * n + c0, n);
    }
  });
}

}  // namespace

void grouped_gemm(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& group_sizes,
                  kernels::GroupedDim grouped) {
  if (out.numel() == 0) return;
  if (!out.is_contiguous()) {
    Tensor scratch = empty(out.shape(), TensorOptions(out.dtype()));
    grouped_gemm(scratch, a, b, group_sizes, grouped);
    copy(out, scratch);
    return;
  }
  dispatch_floating(out.dtype(), "grouped_gemm",
                    [&]<class T>() { grouped_gemm_typed<T>(out, a, b, group_sizes, grouped); });
}

}  // namespace mixgrad::cpu
