#pragma once
// Matrix products. GEMMs go to the backend (OpenBLAS sgemm/dgemm on the CPU, cuBLAS on CUDA);
// integer products use a plain loop.
#include "core/tensor.h"

namespace mixgrad {

// torch.matmul semantics: 1-D x 1-D is a dot product; 1-D operands get a dim prepended
// (left) or appended (right) that is removed afterwards; batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b);
// [n, k] @ [k, m].
Tensor mm(const Tensor& a, const Tensor& b);
// [B, n, k] @ [B, k, m] (no broadcasting).
Tensor bmm(const Tensor& a, const Tensor& b);
// beta * self + alpha * (m1 @ m2); self broadcasts to [n, m].
Tensor addmm(const Tensor& self, const Tensor& m1, const Tensor& m2, double beta = 1,
             double alpha = 1);
// beta * self + alpha * bmm(b1, b2); self broadcasts to [B, n, m].
Tensor baddbmm(const Tensor& self, const Tensor& b1, const Tensor& b2, double beta = 1,
               double alpha = 1);

}  // namespace mixgrad
