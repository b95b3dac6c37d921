// CPU matrix products: float32/float64 go to OpenBLAS, integers and tiny float products to a
// plain row-times-matrix loop.
//
// BLAS reads a matrix in place when one of its dims is unit-stride (row-major, or transposed:
// stride[-2] == 1); any other layout is packed once into a contiguous scratch buffer. Batches of
// small products run in parallel over the batch; large products run as blocks of output rows or
// columns on the pool (product_split.h). OpenBLAS itself is single-threaded.
#include <algorithm>
#include <vector>

#include "backends/cpu/blas.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/loop.h"
#include "backends/cpu/parallel.h"
#include "backends/cpu/product_split.h"
#include "core/dispatch.h"
#include "core/factory.h"

namespace mixgrad::cpu {

namespace {

// Multiply-adds per thread below which a batch is not split further.
constexpr int64_t kGemmBatchGrain = 1 << 14;
// Batched products smaller than 64^3 multiply-adds run whole, in parallel over the batch.
constexpr int64_t kSmallGemm = int64_t{64} * 64 * 64;

// The 3-D tensor with its two matrix dims swapped.
Tensor raw_transpose(const Tensor& t) {
  const Shape& s = t.shape();
  const Shape& st = t.strides();
  return raw_view(t, {s[0], s[2], s[1]}, {st[0], st[2], st[1]});
}

BlasLayout blas_layout(const Tensor& t) {
  return cpu::blas_layout(t.size(1), t.size(2), t.stride(1), t.stride(2));
}

// A 3-D operand as BLAS will read it: `t` itself, or a contiguous copy when its matrices are
// laid out in a way BLAS cannot read. A broadcast batch (stride 0) is packed once.
struct BlasOperand {
  Tensor t;
  BlasLayout layout;
  int64_t batch_stride = 0;
};

BlasOperand blas_operand(const Tensor& t) {
  const int64_t batch_stride = t.size(0) > 1 ? t.stride(0) : 0;
  BlasLayout layout = blas_layout(t);
  if (layout.ok) return {t, layout, batch_stride};
  const int64_t packed_batches = batch_stride == 0 ? 1 : t.size(0);
  const Shape shape{packed_batches, t.size(1), t.size(2)};
  Tensor packed = empty(shape, TensorOptions(t.dtype()));
  copy(packed, raw_view(t, shape, t.strides()));
  return {packed, blas_layout(packed), packed_batches > 1 ? packed.stride(0) : 0};
}

// Up to this many output rows (or columns), a product runs as one matrix-vector product per row
// (column): OpenBLAS 0.3.21's gemm packs the whole matrix operand on every call, and measured at
// k = 512, n = 512 and 4096 (1 thread), per-row gemv was 2.5-4x faster for 1-3 rows and slower
// from 8 rows on.
constexpr int kMaxGemvRows = 3;

// c = alpha * a @ b + beta * c as per-row (or per-column) gemv when the output has at most
// kMaxGemvRows rows (columns); returns false for other shapes.
template <class T>
bool gemv_if_few_rows(int m, int n, int k, T alpha, const BlasOperand& a, const T* pa,
                      const BlasOperand& b, const T* pb, T beta, T* pc, int ldc) {
  const bool by_rows = m <= kMaxGemvRows;
  if (!by_rows && n > kMaxGemvRows) return false;
  const int lda = static_cast<int>(a.layout.ld), ldb = static_cast<int>(b.layout.ld);
  if (by_rows) {  // c[r, :] = b^T a[r, :]
    // Row r of a: contiguous from r * lda, or, stored transposed, every lda-th from r.
    const int inc_a = a.layout.transposed ? lda : 1;
    for (int r = 0; r < m; ++r) {
      const T* row = pa + (a.layout.transposed ? r : static_cast<int64_t>(r) * lda);
      T* out = pc + static_cast<int64_t>(r) * ldc;
      if (beta == T(0)) std::fill(out, out + n, T(0));  // gemv scales old contents: 0 * NaN
      if (b.layout.transposed)                          // b stored as [n, k]
        blas_gemv<T>(CblasNoTrans, n, k, alpha, pb, ldb, row, inc_a, beta, out, 1);
      else
        blas_gemv<T>(CblasTrans, k, n, alpha, pb, ldb, row, inc_a, beta, out, 1);
    }
  } else {  // c[:, j] = a b[:, j]
    // Column j of b: every ldb-th from j, or, stored transposed, contiguous from j * ldb.
    const int inc_b = b.layout.transposed ? 1 : ldb;
    for (int j = 0; j < n; ++j) {
      const T* column = pb + (b.layout.transposed ? static_cast<int64_t>(j) * ldb : j);
      T* out = pc + j;
      if (beta == T(0)) {
        for (int i = 0; i < m; ++i) out[static_cast<int64_t>(i) * ldc] = T(0);
      }
      if (a.layout.transposed)  // a stored as [k, m]
        blas_gemv<T>(CblasTrans, k, m, alpha, pa, lda, column, inc_b, beta, out, ldc);
      else
        blas_gemv<T>(CblasNoTrans, m, k, alpha, pa, lda, column, inc_b, beta, out, ldc);
    }
  }
  return true;
}

// out = alpha * a @ b + beta * out through BLAS, batch by batch.
template <class T>
void gemm_blas(const Tensor& out, const Tensor& a_in, const Tensor& b_in, double alpha,
               double beta) {
  const int64_t batches = out.size(0), m = out.size(1), n = out.size(2), k = a_in.size(2);
  const BlasOperand a = blas_operand(a_in), b = blas_operand(b_in);
  const BlasLayout c = blas_layout(out);  // row-major: checked by blas_writable
  const int64_t c_batch_stride = out.stride(0);
  const CBLAS_TRANSPOSE ta = a.layout.transposed ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = b.layout.transposed ? CblasTrans : CblasNoTrans;
  blas_int("gemm", m);
  blas_int("gemm", n);
  const int bk = blas_int("gemm", k);
  const int lda = blas_int("gemm", a.layout.ld), ldb = blas_int("gemm", b.layout.ld),
            ldc = blas_int("gemm", c.ld);
  const T* pa = a.t.data_ptr<T>();
  const T* pb = b.t.data_ptr<T>();
  T* pc = out.data_ptr<T>();
  // Rows [r0, r0 + rows) and columns [c0, c0 + cols) of product i.
  auto block = [&](int64_t i, int64_t r0, int64_t rows, int64_t c0, int64_t cols) {
    const T* pa_i = pa + i * a.batch_stride + r0 * a.t.stride(1);
    const T* pb_i = pb + i * b.batch_stride + c0 * b.t.stride(2);
    T* pc_i = pc + i * c_batch_stride + r0 * ldc + c0;
    const int br = static_cast<int>(rows), bc = static_cast<int>(cols);
    if (gemv_if_few_rows<T>(br, bc, bk, static_cast<T>(alpha), a, pa_i, b, pb_i,
                            static_cast<T>(beta), pc_i, ldc))
      return;
    blas_gemm<T>(ta, tb, br, bc, bk, static_cast<T>(alpha), pa_i, lda, pb_i, ldb,
                 static_cast<T>(beta), pc_i, ldc);
  };
  const int64_t work = m * n * k;
  if (batches > 1 && work < kSmallGemm) {
    parallel_for(batches, std::max<int64_t>(1, kGemmBatchGrain / std::max<int64_t>(work, 1)),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t i = begin; i < end; ++i) block(i, 0, m, 0, n);
                 });
    return;
  }
  run_products(
      batches,
      [&](int64_t) {
        return ProductShape{m, n, k};
      },
      [&](const ProductPiece& p) {
        if (p.rows)
          block(p.product, p.begin, p.end - p.begin, 0, n);
        else
          block(p.product, 0, m, p.begin, p.end - p.begin);
      });
}

// out = alpha * a @ b + beta * out one output row at a time: the row accumulates
// a[i, p] * b[p, :] so the inner loop runs along b's rows (vectorized when unit-stride).
template <class T>
void gemm_loop(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) {
  const int64_t batches = out.size(0), m = out.size(1), n = out.size(2), k = a.size(2);
  const T* pa = a.data_ptr<T>();
  const T* pb = b.data_ptr<T>();
  T* pc = out.data_ptr<T>();
  const Shape& sa = a.strides();
  const Shape& sb = b.strides();
  const Shape& sc = out.strides();
  const T t_alpha = static_cast<T>(alpha), t_beta = static_cast<T>(beta);
  const int64_t grain = std::max<int64_t>(1, kGrainSize / std::max<int64_t>(n * k, 1));
  parallel_for(batches * m, grain, [&](int64_t begin, int64_t end) {
    std::vector<T> acc(n);
    for (int64_t r = begin; r < end; ++r) {
      const int64_t batch = r / m, i = r % m;
      std::fill(acc.begin(), acc.end(), T(0));
      // With k == 0 the operands may have no storage: no pointer arithmetic on null.
      const T* a_row = k == 0 ? pa : pa + batch * sa[0] + i * sa[1];
      const T* b_mat = k == 0 ? pb : pb + batch * sb[0];
      for (int64_t p = 0; p < k; ++p) {
        const T x = a_row[p * sa[2]];
        const T* b_row = b_mat + p * sb[1];
        if (sb[2] == 1) {
          for (int64_t j = 0; j < n; ++j) acc[j] += x * b_row[j];
        } else {
          for (int64_t j = 0; j < n; ++j) acc[j] += x * b_row[j * sb[2]];
        }
      }
      T* c_row = pc + batch * sc[0] + i * sc[1];
      for (int64_t j = 0; j < n; ++j) {
        T& dst = c_row[j * sc[2]];
        dst = beta == 0 ? t_alpha * acc[j] : t_alpha * acc[j] + t_beta * dst;
      }
    }
  });
}

// BLAS writes row-major output only: a transposed out is filled as out^T = b^T @ a^T, any
// other layout through a scratch buffer.
bool blas_writable(const Tensor& out) {
  const BlasLayout layout = blas_layout(out);
  return layout.ok && !layout.transposed;
}

template <class T>
void gemm_floating(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) {
  if (blas_writable(out)) return gemm_blas<T>(out, a, b, alpha, beta);
  const Tensor out_t = raw_transpose(out);
  if (blas_writable(out_t))
    return gemm_blas<T>(out_t, raw_transpose(b), raw_transpose(a), alpha, beta);
  Tensor scratch = empty(out.shape(), TensorOptions(out.dtype()));
  if (beta != 0) copy(scratch, out);
  gemm_blas<T>(scratch, a, b, alpha, beta);
  copy(out, scratch);
}

}  // namespace

void gemm(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) {
  if (out.numel() == 0) return;
  dispatch_dtype(out.dtype(), "gemm", [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) {
      throw Error("gemm", "bool matrix products are not supported");
    } else if constexpr (std::is_floating_point_v<T>) {
      // An empty inner dim leaves only the beta term, which BLAS implementations disagree on.
      const int64_t k = a.size(2);
      if (k == 0 || out.size(1) * out.size(2) * k < kTinyGemm)
        gemm_loop<T>(out, a, b, alpha, beta);
      else
        gemm_floating<T>(out, a, b, alpha, beta);
    } else {
      gemm_loop<T>(out, a, b, alpha, beta);
    }
  });
}

}  // namespace mixgrad::cpu
