#pragma once
// What the CUDA matrix-product files share: blas.cpp sends floating products to cuBLAS and
// everything cuBLAS cannot do to the tiled kernel of gemm_tiled.cu.
#include "core/tensor.h"

namespace mixgrad::cuda {

// out = alpha * a @ b + beta * out for 3-D operands of any strides (batch strides may be 0), by
// a shared-memory tiled kernel: integer products (cuBLAS has none) and empty inner dims (whose
// result is the beta term alone, which is computed here exactly as on the CPU). Integer
// arithmetic wraps; float16/bfloat16 accumulate in float32. Throws Error for bool.
void gemm_tiled(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta);

}  // namespace mixgrad::cuda
