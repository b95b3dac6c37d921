// Matrix products: matmul (torch.matmul's 1-D and batch-broadcasting rules), mm, bmm, addmm and
// baddbmm. Every product reaches the backend's 3-D gemm kernel through strided views (broadcast
// batch dims have stride 0, transposes are just swapped strides), so operands are not copied
// here; the kernel packs a layout only when its BLAS cannot read it.
#include "ops/linalg.h"

#include <cmath>
#include <optional>

#include "autograd/function.h"
#include "backends/kernels.h"
#include "ops/creation.h"
#include "ops/view.h"

namespace mixgrad {

namespace {

void check_operands(const char* op, const Tensor& a, const Tensor& b) {
  MG_CHECK(a.defined() && b.defined(), op, "got an undefined tensor");
  MG_CHECK(a.device() == b.device(), op, "expected both operands on the same device, got ",
           describe(a), " and ", describe(b));
  MG_CHECK(a.dtype() == b.dtype(), op, "expected both operands to have the same dtype, got ",
           describe(a), " and ", describe(b));
  MG_CHECK(a.dtype() != DType::Bool, op, "bool operands are not supported, got ", describe(a),
           " and ", describe(b));
}

Shape batch_dims(const Shape& shape) {
  return Shape(shape.begin(), shape.end() - 2);
}

// NumPy broadcast of two shapes, or nullopt when they are incompatible.
std::optional<Shape> try_broadcast(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) return std::nullopt;
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// batch + [M, N] for a2 [..., M, K] @ b2 [..., K, N]; errors name the operands as the caller
// passed them (before 1-D operands were lifted to matrices).
Shape product_shape(const char* op, const Tensor& a2, const Tensor& b2, const Shape& a_shape,
                    const Shape& b_shape) {
  MG_CHECK(a2.size(-1) == b2.size(-2), op, "shapes ", a_shape, " and ", b_shape,
           " cannot be multiplied (", a2.size(-1), " != ", b2.size(-2), ")");
  std::optional<Shape> batch = try_broadcast(batch_dims(a2.shape()), batch_dims(b2.shape()));
  MG_CHECK(batch.has_value(), op, "batch dims of shapes ", a_shape, " and ", b_shape,
           " cannot be broadcast together");
  batch->push_back(a2.size(-2));
  batch->push_back(b2.size(-1));
  return *batch;
}

Tensor view_if_possible(const Tensor& x, const Shape& shape) {
  bool ok = false;
  view_strides(x.shape(), x.strides(), shape, ok);
  return ok ? view(x, shape) : Tensor();
}

// out = alpha * a @ b + beta * out, where a [..., M, K] and b [..., K, N] broadcast against out's
// batch dims. Batch dims are flattened into the kernel's one batch dim when all three operands
// allow it as a view; otherwise the leading batch dim is walked here (never a copy). Records
// nothing: callers run it under NoGradGuard.
void gemm_into(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) {
  const int64_t m = out.size(-2), n = out.size(-1), k = a.size(-1);
  const Shape batch = batch_dims(out.shape());
  const int64_t count = numel_of(batch);
  // [..., M, K] @ [K, N] with a's rows forming one matrix: a single [count * M, K] GEMM.
  if (b.dim() == 2 && batch_dims(a.shape()) == batch && count > 1) {
    Tensor a_rows = view_if_possible(a, {1, count * m, k});
    if (a_rows.defined()) {
      kernels::gemm(out.device(), view(out, {1, count * m, n}), a_rows, view(b, {1, k, n}), alpha,
                    beta);
      return;
    }
  }
  Shape a_full = batch, b_full = batch;
  a_full.insert(a_full.end(), {m, k});
  b_full.insert(b_full.end(), {k, n});
  const Tensor a_b = expand(a, a_full), b_b = expand(b, b_full);
  const Tensor a3 = view_if_possible(a_b, {count, m, k});
  const Tensor b3 = view_if_possible(b_b, {count, k, n});
  const Tensor out3 = view_if_possible(out, {count, m, n});
  if (a3.defined() && b3.defined() && out3.defined()) {
    kernels::gemm(out.device(), out3, a3, b3, alpha, beta);
    return;
  }
  for (int64_t i = 0; i < batch[0]; ++i)
    gemm_into(select(out, 0, i), select(a_b, 0, i), select(b_b, 0, i), alpha, beta);
}

// A matrix operand stored column-major (a transposed view, like the weight in linear's x @ W^T).
bool column_major(const Tensor& t) {
  return t.dim() >= 2 && t.size(-1) > 1 && t.size(-2) > 1 && t.stride(-2) == 1 && t.stride(-1) != 1;
}

// What a product's backward needs to know about its operands even when they were not saved:
// their dims, and whether they were column-major, so that each gradient is produced in its
// operand's layout and reaches a transposed parameter (linear's weight) without a transposing
// copy.
struct OperandDims {
  int64_t a = 0, b = 0;
  bool a_column_major = false, b_column_major = false;
};

OperandDims operand_dims(const Tensor& a, const Tensor& b) {
  return {a.dim(), b.dim(), column_major(a), column_major(b)};
}

// Adds the gradients of alpha * a @ b (matmul rules) given g_full, the gradient with the full
// batch + [M, N] shape. `a` is defined when grad_b is needed, `b` when grad_a is. Broadcast batch
// dims are summed by the sinks.
void product_backward(const Tensor& g_full, const Tensor& a, const Tensor& b, OperandDims dims,
                      double alpha, GradSink& grad_a, GradSink& grad_b) {
  const bool a_vec = dims.a == 1, b_vec = dims.b == 1;
  const Tensor g = alpha == 1 ? g_full : g_full * alpha;
  if (grad_a.needed()) {
    const Tensor b2 = b_vec ? unsqueeze(b, 1) : b;
    // g @ b^T, or its transpose b @ g^T computed row-major and viewed back.
    const Tensor d = dims.a_column_major ? transpose(matmul(b2, transpose(g, -1, -2)), -1, -2)
                                         : matmul(g, transpose(b2, -1, -2));
    grad_a.add(a_vec ? squeeze(d, -2) : d);
  }
  if (grad_b.needed()) {
    const Tensor a2 = a_vec ? unsqueeze(a, 0) : a;
    Tensor d;
    if (dims.b == 2 && g.dim() > 2) {
      // b was shared by every batch: sum a_i^T g_i in one [K, rows] @ [rows, N] product.
      const int64_t rows = numel_of(batch_dims(g.shape())) * g.size(-2);
      const Tensor a_rows = reshape(a2, {rows, a2.size(-1)});
      const Tensor g_rows = reshape(g, {rows, g.size(-1)});
      d = dims.b_column_major ? t(mm(t(g_rows), a_rows)) : mm(t(a_rows), g_rows);
    } else {
      d = dims.b_column_major ? transpose(matmul(transpose(g, -1, -2), a2), -1, -2)
                              : matmul(transpose(a2, -1, -2), g);
    }
    grad_b.add(b_vec ? squeeze(d, -1) : d);
  }
}

// a @ b for checked operands of >= 1 dim (matmul rules), recorded as `op`.
Tensor product(const char* op, const Tensor& a, const Tensor& b) {
  const OperandDims dims = operand_dims(a, b);
  const bool a_vec = dims.a == 1, b_vec = dims.b == 1;
  Shape full_shape;
  Tensor out;
  {
    NoGradGuard no_grad;
    const Tensor a2 = a_vec ? unsqueeze(a, 0) : a;
    const Tensor b2 = b_vec ? unsqueeze(b, 1) : b;
    full_shape = product_shape(op, a2, b2, a.shape(), b.shape());
    Shape out_shape = batch_dims(full_shape);
    if (!a_vec) out_shape.push_back(full_shape.end()[-2]);
    if (!b_vec) out_shape.push_back(full_shape.back());
    // The result owns its storage (not a view), so it may later be modified in place.
    out = empty(out_shape, options_of(a));
    gemm_into(view(out, full_shape), a2, b2, 1, 0);
  }
  // Each operand is kept only for the other's gradient.
  const bool ga = should_record({a}), gb = should_record({b});
  record(op, out, {a, b},
         [sa = save(gb ? a : Tensor()), sb = save(ga ? b : Tensor()), dims, full_shape](
             const Tensor& g, InputGrads in) {
           product_backward(reshape(g, full_shape), sa.get(), sb.get(), dims, 1, in[0], in[1]);
         });
  return out;
}

// beta * self + alpha * m1 @ m2 for checked >= 2-D m1, m2, recorded as `op`.
Tensor biased_product(const char* op, const Tensor& self, const Tensor& m1, const Tensor& m2,
                      double beta, double alpha) {
  MG_CHECK(self.defined(), op, "got an undefined tensor");
  MG_CHECK(self.dtype() == m1.dtype() && self.device() == m1.device(), op, "self is ",
           describe(self), " but the matrices are ", describe(m1), " and ", describe(m2));
  MG_CHECK(is_floating(m1.dtype()) || (alpha == std::trunc(alpha) && beta == std::trunc(beta)), op,
           "integer operands need integral alpha and beta, got alpha ", alpha, " and beta ", beta);
  const Shape full_shape = product_shape(op, m1, m2, m1.shape(), m2.shape());
  const std::optional<Shape> self_shape = try_broadcast(self.shape(), full_shape);
  MG_CHECK(self_shape == full_shape, op, "self of shape ", self.shape(),
           " cannot be broadcast to the result shape ", full_shape);
  Tensor out = empty(full_shape, options_of(m1));
  {
    NoGradGuard no_grad;
    // beta == 0 ignores self entirely (even NaN), as PyTorch.
    if (beta != 0) kernels::copy(out.device(), out, expand(self, full_shape));
    gemm_into(out, m1, m2, alpha, beta);
  }
  const bool g1 = should_record({m1}), g2 = should_record({m2});
  record(op, out, {self, m1, m2},
         [s1 = save(g2 ? m1 : Tensor()), s2 = save(g1 ? m2 : Tensor()), dims = operand_dims(m1, m2),
          alpha, beta](const Tensor& g, InputGrads in) {
           if (in[0].needed()) in[0].add(beta == 1 ? g : g * beta);
           product_backward(g, s1.get(), s2.get(), dims, alpha, in[1], in[2]);
         });
  return out;
}

void check_dims(const char* op, const Tensor& a, const Tensor& b, int64_t dims) {
  check_operands(op, a, b);
  MG_CHECK(a.dim() == dims && b.dim() == dims, op, "expected ", dims, "-D tensors, got shapes ",
           a.shape(), " and ", b.shape());
  MG_CHECK(dims != 3 || a.size(0) == b.size(0), op, "batch sizes differ: shapes ", a.shape(),
           " and ", b.shape());
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_operands("matmul", a, b);
  MG_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul", "both operands need at least 1 dim, got shapes ",
           a.shape(), " and ", b.shape());
  return product("matmul", a, b);
}

Tensor mm(const Tensor& a, const Tensor& b) {
  check_dims("mm", a, b, 2);
  return product("mm", a, b);
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_dims("bmm", a, b, 3);
  return product("bmm", a, b);
}

Tensor addmm(const Tensor& self, const Tensor& m1, const Tensor& m2, double beta, double alpha) {
  check_dims("addmm", m1, m2, 2);
  return biased_product("addmm", self, m1, m2, beta, alpha);
}

Tensor baddbmm(const Tensor& self, const Tensor& b1, const Tensor& b2, double beta, double alpha) {
  check_dims("baddbmm", b1, b2, 3);
  return biased_product("baddbmm", self, b1, b2, beta, alpha);
}

}  // namespace mixgrad
