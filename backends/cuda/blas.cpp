// CUDA matrix products through cuBLAS: gemm (batched, via cublasGemmStridedBatchedEx or
// cublasGemmEx for one matrix) and grouped_gemm (one cuBLAS call per non-empty group).
//
// cuBLAS is column-major; a row-major [rows, cols] matrix is the column-major [cols, rows] one,
// so out = a @ b is computed as out^T = b^T @ a^T with the operands swapped. An operand whose
// matrices have a unit stride in either dim is read in place (the other stride is the leading
// dimension, with the transpose flag saying which); any other layout is packed into a contiguous
// copy first. Integer products and empty inner dims go to the tiled kernel (blas.h).
//
// One cuBLAS handle per (device, stream), made on first use with its own workspace and never
// destroyed: freeing handles and device memory from static destructors would run after the CUDA
// runtime has begun tearing down.
#include "backends/cuda/blas.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "backends/blas_layout.h"
#include "backends/cuda/kernels.h"
#include "backends/cuda/runtime.h"
#include "backends/cuda_api.h"
#include "core/factory.h"

namespace mixgrad::cuda {

namespace {

using kernels::GroupedDim;

void check_cublas(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error("cuda", detail::concat(call, " failed: ", cublasGetStatusName(status), " (",
                                       cublasGetStatusString(status), ")"));
}

// cuBLAS's recommended workspace on Hopper (4 MiB suffices on older GPUs).
constexpr std::size_t kWorkspaceBytes = std::size_t{32} << 20;

// The handle for work on t's device and current stream; t's device must be current.
cublasHandle_t handle_for(const Tensor& t) {
  struct Entry {
    cublasHandle_t handle;
    Tensor workspace;  // kept alive with the handle
  };
  static std::mutex mutex;
  static auto* handles = new std::map<std::pair<int, cudaStream_t>, Entry>();
  const cudaStream_t stream = stream_of(t);
  const std::pair<int, cudaStream_t> key{t.device().index, stream};
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = handles->find(key); it != handles->end()) return it->second.handle;
  cublasHandle_t handle = nullptr;
  check_cublas(cublasCreate(&handle), "cublasCreate");
  try {
    check_cublas(cublasSetStream(handle, stream), "cublasSetStream");
    // float16/bfloat16 products must accumulate in float32 all the way, not in the output type.
    check_cublas(cublasSetMathMode(handle, static_cast<cublasMath_t>(
                                               CUBLAS_DEFAULT_MATH |
                                               CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)),
                 "cublasSetMathMode");
    // Allocated while `stream` is current, so the caching allocator ties it to that stream.
    Tensor ws = workspace(kWorkspaceBytes, t);
    check_cublas(cublasSetWorkspace(handle, ws.data_ptr(), kWorkspaceBytes), "cublasSetWorkspace");
    handles->emplace(key, Entry{handle, std::move(ws)});
  } catch (...) {
    cublasDestroy(handle);
    throw;
  }
  return handle;
}

// `v` as a cuBLAS int; throws Error naming `op` when it does not fit.
int cublas_int(const char* op, int64_t v) {
  MG_CHECK(v <= std::numeric_limits<int>::max(), op, "dimension or stride ", v,
           " exceeds what cuBLAS can address (", std::numeric_limits<int>::max(), ")");
  return static_cast<int>(v);
}

// How cuBLAS reads one row-major [rows, cols] matrix in place, if it can.
kernels::BlasLayout matrix_layout(const Tensor& t) {
  const int64_t d = t.dim();
  return kernels::blas_layout(t.size(d - 2), t.size(d - 1), t.stride(d - 2), t.stride(d - 1));
}

// A view of t's memory without autograd (kernels must not record).
Tensor raw_view(const Tensor& t, Shape sizes, Shape strides) {
  return alias_with_layout(t, std::move(sizes), std::move(strides), t.storage_offset());
}

// The 3-D tensor with its two matrix dims swapped.
Tensor raw_transpose(const Tensor& t) {
  return raw_view(t, {t.size(0), t.size(2), t.size(1)}, {t.stride(0), t.stride(2), t.stride(1)});
}

Tensor contiguous_copy(const Tensor& t) {
  Tensor packed = empty(t.shape(), options_of(t));
  copy(packed, t);
  return packed;
}

// A row-major matrix operand as cuBLAS takes it. `owner` keeps a packed copy alive until the
// call has been queued (the caching allocator reuses freed memory in stream order).
struct Operand {
  Tensor owner;
  const char* data = nullptr;
  cublasOperation_t op = CUBLAS_OP_N;
  int ld = 1;
  long long batch_stride = 0;  // in elements
};

Operand operand_of(const char* op, const Tensor& t, const kernels::BlasLayout& layout,
                   int64_t batch_stride) {
  return {t, static_cast<const char*>(t.data_ptr()), layout.transposed ? CUBLAS_OP_T : CUBLAS_OP_N,
          cublas_int(op, layout.ld), batch_stride};
}

// A 3-D gemm operand: read in place, or packed (a broadcast batch only once).
Operand gemm_operand(const Tensor& t) {
  const int64_t batch_stride = t.size(0) > 1 ? t.stride(0) : 0;
  const kernels::BlasLayout layout = matrix_layout(t);
  if (layout.ok && batch_stride >= 0) return operand_of("gemm", t, layout, batch_stride);
  const int64_t batches = batch_stride == 0 ? 1 : t.size(0);
  const Tensor packed = contiguous_copy(raw_view(t, {batches, t.size(1), t.size(2)}, t.strides()));
  return operand_of("gemm", packed, matrix_layout(packed), batches > 1 ? packed.stride(0) : 0);
}

// A grouped_gemm operand: read in place, or packed as a whole.
Tensor grouped_readable(const Tensor& t) {
  return matrix_layout(t).ok ? t : contiguous_copy(t);
}

cudaDataType_t cuda_data_type(DType t, const char* op) {
  switch (t) {
    case DType::Float32:
      return CUDA_R_32F;
    case DType::Float64:
      return CUDA_R_64F;
    case DType::Float16:
      return CUDA_R_16F;
    case DType::BFloat16:
      return CUDA_R_16BF;
    default:
      throw Error(op, std::string("expected a floating dtype, got ") + dtype_name(t));
  }
}

// One (batched) row-major product out[M, N] = alpha * a[M, K] @ b[K, N] + beta * out, where out
// has a unit column stride and leading dimension ldc.
struct Product {
  DType dtype;
  int64_t m, n, k, batches;
  const Operand* a;
  const Operand* b;
  char* out;
  int64_t ldc;
  long long out_batch_stride;
};

void run_product(const char* op, const Tensor& like, const Product& p, double alpha, double beta) {
  const cudaDataType_t type = cuda_data_type(p.dtype, op);
  const bool is_double = p.dtype == DType::Float64;
  const cublasComputeType_t compute = is_double ? CUBLAS_COMPUTE_64F
                                      : p.dtype == DType::Float32 && allow_tf32()
                                          ? CUBLAS_COMPUTE_32F_FAST_TF32
                                          : CUBLAS_COMPUTE_32F;
  // The scalars have the compute type's precision.
  const float alpha_f = static_cast<float>(alpha), beta_f = static_cast<float>(beta);
  const void* alpha_p = is_double ? static_cast<const void*>(&alpha) : &alpha_f;
  const void* beta_p = is_double ? static_cast<const void*>(&beta) : &beta_f;
  const int m = cublas_int(op, p.m), n = cublas_int(op, p.n), k = cublas_int(op, p.k);
  const int ldc = cublas_int(op, p.ldc);
  const cublasHandle_t handle = handle_for(like);
  // Column-major: out^T [N, M] = b^T [N, K] @ a^T [K, M].
  if (p.batches == 1) {
    check_cublas(cublasGemmEx(handle, p.b->op, p.a->op, n, m, k, alpha_p, p.b->data, type, p.b->ld,
                              p.a->data, type, p.a->ld, beta_p, p.out, type, ldc, compute,
                              CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx");
    return;
  }
  check_cublas(
      cublasGemmStridedBatchedEx(handle, p.b->op, p.a->op, n, m, k, alpha_p, p.b->data, type,
                                 p.b->ld, p.b->batch_stride, p.a->data, type, p.a->ld,
                                 p.a->batch_stride, beta_p, p.out, type, ldc, p.out_batch_stride,
                                 cublas_int(op, p.batches), compute, CUBLAS_GEMM_DEFAULT),
      "cublasGemmStridedBatchedEx");
}

// Whether cuBLAS can write `out` in place: row-major matrices, distinct batches.
bool cublas_writable(const Tensor& out) {
  const kernels::BlasLayout layout = matrix_layout(out);
  return layout.ok && !layout.transposed && (out.size(0) <= 1 || out.stride(0) > 0);
}

void gemm_cublas(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) {
  const Operand oa = gemm_operand(a), ob = gemm_operand(b);
  const Product p{out.dtype(),
                  out.size(1),
                  out.size(2),
                  a.size(2),
                  out.size(0),
                  &oa,
                  &ob,
                  static_cast<char*>(out.data_ptr()),
                  matrix_layout(out).ld,
                  out.size(0) > 1 ? out.stride(0) : 0};
  run_product("gemm", out, p, alpha, beta);
}

}  // namespace

void gemm(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) {
  if (out.numel() == 0) return;
  // cuBLAS has no integer product, and for an empty inner dim only the beta term is left.
  if (!is_floating(out.dtype()) || a.size(2) == 0) return gemm_tiled(out, a, b, alpha, beta);
  DeviceIndexGuard guard(out.device().index);
  if (cublas_writable(out)) return gemm_cublas(out, a, b, alpha, beta);
  // A column-major out is the row-major out^T = b^T @ a^T.
  const Tensor out_t = raw_transpose(out);
  if (cublas_writable(out_t))
    return gemm_cublas(out_t, raw_transpose(b), raw_transpose(a), alpha, beta);
  Tensor scratch = empty(out.shape(), options_of(out));
  if (beta != 0) copy(scratch, out);
  gemm_cublas(scratch, a, b, alpha, beta);
  copy(out, scratch);
}

namespace {

// The group sizes on the host, checked to be non-negative and to sum to `total`. A CUDA
// group_sizes costs one synchronising copy.
std::vector<int64_t> checked_group_sizes(const Tensor& group_sizes, int64_t total) {
  const std::vector<int64_t> sizes = group_sizes.to_vector<int64_t>();
  int64_t sum = 0;
  for (std::size_t g = 0; g < sizes.size(); ++g) {
    MG_CHECK(sizes[g] >= 0, "grouped_gemm", "group ", g, " has negative size ", sizes[g]);
    sum += sizes[g];
  }
  MG_CHECK(sum == total, "grouped_gemm", "group sizes sum to ", sum, " but the grouped dim has ",
           total, " rows");
  return sizes;
}

void zero_bytes(char* data, int64_t count, const Tensor& like) {
  const auto bytes = static_cast<std::size_t>(count) * like.element_size();
  MG_CUDA_CHECK(cudaMemsetAsync(data, 0, bytes, stream_of(like)));
}

// out (contiguous) as the groups' products, one cuBLAS call per non-empty group; products with
// an empty inner range are zero.
void grouped_gemm_contiguous(const Tensor& out, const Tensor& a_in, const Tensor& b_in,
                             const Tensor& group_sizes, GroupedDim grouped) {
  constexpr const char* op = "grouped_gemm";
  const bool by_rows = grouped == GroupedDim::M;
  cuda_data_type(out.dtype(), op);  // rejects non-floating dtypes before any work
  const std::vector<int64_t> sizes =
      checked_group_sizes(group_sizes, by_rows ? a_in.size(0) : a_in.size(1));
  const Tensor a = grouped_readable(a_in), b = grouped_readable(b_in);
  const kernels::BlasLayout la = matrix_layout(a), lb = matrix_layout(b);
  const int64_t a_rs = a.stride(-2), a_cs = a.stride(-1), b_rs = b.stride(-2);
  const int64_t n = out.size(-1);
  const int64_t fixed = by_rows ? a.size(1) : a.size(0);  // K for GroupedDim::M, M for K
  const auto esize = static_cast<int64_t>(out.element_size());
  char* pc = static_cast<char*>(out.data_ptr());
  if (by_rows && fixed == 0) return zero_bytes(pc, out.numel(), out);
  Operand oa = operand_of(op, a, la, 0), ob = operand_of(op, b, lb, 0);
  const char* pa = oa.data;
  const char* pb = ob.data;
  const int64_t b_group_stride = by_rows && b.size(0) > 1 ? b.stride(0) : 0;
  int64_t offset = 0;
  for (std::size_t g = 0; g < sizes.size(); ++g) {
    const int64_t size = sizes[g];
    const auto gi = static_cast<int64_t>(g);
    Product p{out.dtype(), 0, n, 0, 1, &oa, &ob, nullptr, n, 0};
    if (by_rows) {  // out[rows of g] = a[rows of g] @ b[g]
      p.m = size;
      p.k = fixed;
      oa.data = pa + offset * a_rs * esize;
      ob.data = pb + gi * b_group_stride * esize;
      p.out = pc + offset * n * esize;
    } else {  // out[g] = a[:, rows of g] @ b[rows of g]
      p.m = fixed;
      p.k = size;
      oa.data = pa + offset * a_cs * esize;
      ob.data = pb + offset * b_rs * esize;
      p.out = pc + gi * fixed * n * esize;
    }
    offset += size;
    if (p.m == 0) continue;
    if (p.k == 0) {
      zero_bytes(p.out, p.m * n, out);
      continue;
    }
    run_product(op, out, p, 1.0, 0.0);
  }
}

}  // namespace

void grouped_gemm(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& group_sizes,
                  kernels::GroupedDim grouped) {
  if (out.numel() == 0) return;
  DeviceIndexGuard guard(out.device().index);
  if (out.is_contiguous()) return grouped_gemm_contiguous(out, a, b, group_sizes, grouped);
  Tensor scratch = empty(out.shape(), options_of(out));
  grouped_gemm_contiguous(scratch, a, b, group_sizes, grouped);
  copy(out, scratch);
}

}  // namespace mixgrad::cuda
