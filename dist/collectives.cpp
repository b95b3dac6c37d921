// Tensor collectives: each one brings its input to contiguous host memory (converting the
// dtypes the transport cannot reduce), calls the communicator with grad mode off, and records
// its backward, which is the adjoint collective.
#include "dist/collectives.h"

#include <chrono>
#include <numeric>

#include "autograd/function.h"
#include "ops/ops.h"

namespace mixgrad::dist {

namespace {

bool is_half(DType t) {
  return t == DType::Float16 || t == DType::BFloat16;
}

// x on the host in a dtype the host has: half types (CUDA only) widened to float32 on their
// device first.
Tensor to_host(const Tensor& x) {
  return (is_half(x.dtype()) ? x.to(kFloat32) : x).to(kCPU);
}

// A contiguous CPU tensor with x's values that the caller may overwrite without touching x.
Tensor host_buffer(const Tensor& x) {
  Tensor h = to_host(x);
  if (!h.is_same(x) && h.is_contiguous()) return h;
  Tensor fresh = empty(h.shape(), options_of(h));
  fresh.copy_(h);
  return fresh;
}

// A contiguous CPU tensor with x's values, only read by the caller.
Tensor host_view(const Tensor& x) {
  return to_host(x).contiguous();
}

// The result back in x's dtype and device.
Tensor like_input(const Tensor& result, const Tensor& x) {
  return result.to(x.dtype()).to(x.device());
}

void check_input(const char* op, const Tensor& x, const Group& group) {
  MG_CHECK(x.defined(), op, "got an undefined tensor");
  MG_CHECK(group.member(), op, "this process is not a member of the group");
}

void check_reduction(const char* op, const Tensor& x, ReduceOp reduce) {
  MG_CHECK(x.dtype() != DType::Bool, op, "cannot reduce a bool tensor (convert it first)");
  MG_CHECK(reduce != ReduceOp::Mean || x.is_floating_point(), op,
           "a mean needs a floating tensor, got ", x.dtype());
}

void check_differentiable(const char* op, ReduceOp reduce, const Tensor& x) {
  MG_CHECK(reduce == ReduceOp::Sum || reduce == ReduceOp::Mean || !should_record({x}), op,
           "only sum and mean are differentiable, got ", reduce_op_name(reduce),
           " of a tensor that requires grad");
}

// Reduces the contiguous host tensor h (a transport dtype) in place.
void reduce_host(const Tensor& h, ReduceOp reduce, const Group& group) {
  const ReduceOp transport = reduce == ReduceOp::Mean ? ReduceOp::Sum : reduce;
  group.comm().all_reduce(h.data_ptr(), h.numel(), h.dtype(), transport);
  if (reduce == ReduceOp::Mean) Tensor(h).div_(static_cast<double>(group.size()));
}

// A collective's output as its backward needs it: shape, dtype and device.
struct OutputMeta {
  explicit OutputMeta(const Tensor& y) : shape(y.shape()), options(options_of(y)) {}
  Shape shape;
  TensorOptions options;
};

// The gradient reaching a collective's output, or zeros when none did: the backward collective
// must run on every process even where this output did not affect the loss.
Tensor grad_or_zeros(const std::vector<Tensor>& grads, const OutputMeta& out) {
  return grads[0].defined() ? grads[0] : zeros(out.shape, out.options);
}

int64_t byte_size(const Tensor& t) {
  return t.numel() * static_cast<int64_t>(t.element_size());
}

double g_all_to_all_seconds = 0;

Shape with_rows(Shape shape, int64_t rows) {
  shape[0] = rows;
  return shape;
}

}  // namespace

Tensor all_reduce(const Tensor& x, ReduceOp op, const Group& group) {
  const char* name = "dist.all_reduce";
  check_input(name, x, group);
  check_reduction(name, x, op);
  check_differentiable(name, op, x);
  Tensor y;
  {
    NoGradGuard no_grad;
    Tensor h = host_buffer(x);
    reduce_host(h, op, group);
    y = like_input(h, x);
  }
  record(name, {y}, {x},
         [op, group, out = OutputMeta(y)](const std::vector<Tensor>& g, InputGrads in) {
           in[0].add(all_reduce(grad_or_zeros(g, out), op, group));
         });
  return y;
}

void all_reduce_(const Tensor& x, ReduceOp op, const Group& group) {
  const char* name = "dist.all_reduce_";
  check_input(name, x, group);
  check_reduction(name, x, op);
  NoGradGuard no_grad;
  if (x.device().is_cpu() && x.is_contiguous() && !is_half(x.dtype())) {
    reduce_host(x, op, group);
    return;
  }
  Tensor h = host_buffer(x);
  reduce_host(h, op, group);
  Tensor(x).copy_(h);
}

Tensor broadcast(const Tensor& x, int root, const Group& group) {
  const char* name = "dist.broadcast";
  check_input(name, x, group);
  MG_CHECK(root >= 0 && root < group.size(), name, "root ", root, " is not in ", group.describe());
  Tensor y;
  {
    NoGradGuard no_grad;
    Tensor h = host_buffer(x);
    group.comm().broadcast(h.data_ptr(), byte_size(h), root);
    y = like_input(h, x);
  }
  record(name, {y}, {x},
         [root, group, out = OutputMeta(y)](const std::vector<Tensor>& g, InputGrads in) {
           Tensor total = all_reduce(grad_or_zeros(g, out), ReduceOp::Sum, group);
           in[0].add(group.rank() == root ? total : zeros_like(total));
         });
  return y;
}

Tensor all_gather(const Tensor& x, const Group& group) {
  const char* name = "dist.all_gather";
  check_input(name, x, group);
  MG_CHECK(x.dim() >= 1, name, "gathers along dim 0; got a 0-dim tensor");
  Tensor y;
  {
    NoGradGuard no_grad;
    Tensor h = host_view(x);
    Tensor out = empty(with_rows(x.shape(), x.size(0) * group.size()), options_of(h));
    group.comm().all_gather(h.data_ptr(), byte_size(h), out.data_ptr());
    y = like_input(out, x);
  }
  record(name, {y}, {x}, [group, out = OutputMeta(y)](const std::vector<Tensor>& g, InputGrads in) {
    in[0].add(reduce_scatter(grad_or_zeros(g, out), ReduceOp::Sum, group));
  });
  return y;
}

Tensor reduce_scatter(const Tensor& x, ReduceOp op, const Group& group) {
  const char* name = "dist.reduce_scatter";
  check_input(name, x, group);
  check_reduction(name, x, op);
  check_differentiable(name, op, x);
  MG_CHECK(x.dim() >= 1 && x.size(0) % group.size() == 0, name, "dim 0 must split evenly over the ",
           group.size(), " processes, got shape ", x.shape());
  Tensor y;
  {
    NoGradGuard no_grad;
    Tensor h = host_view(x);
    Tensor out = empty(with_rows(x.shape(), x.size(0) / group.size()), options_of(h));
    const ReduceOp transport = op == ReduceOp::Mean ? ReduceOp::Sum : op;
    group.comm().reduce_scatter(h.data_ptr(), out.data_ptr(), out.numel(), h.dtype(), transport);
    if (op == ReduceOp::Mean) out.div_(static_cast<double>(group.size()));
    y = like_input(out, x);
  }
  record(name, {y}, {x},
         [op, group, out = OutputMeta(y)](const std::vector<Tensor>& g, InputGrads in) {
           Tensor full = all_gather(grad_or_zeros(g, out), group);
           in[0].add(op == ReduceOp::Mean ? full / static_cast<double>(group.size()) : full);
         });
  return y;
}

Tensor all_to_all(const Tensor& x, std::span<const int64_t> send_rows,
                  std::span<const int64_t> recv_rows, const Group& group) {
  const char* name = "dist.all_to_all";
  check_input(name, x, group);
  const size_t p = static_cast<size_t>(group.size());
  MG_CHECK(x.dim() >= 1, name, "moves rows (dim 0); got a 0-dim tensor");
  MG_CHECK(send_rows.size() == p && recv_rows.size() == p, name,
           "expects one send and one receive count per rank (", p, "), got ", send_rows.size(),
           " and ", recv_rows.size());
  for (size_t r = 0; r < p; ++r)
    MG_CHECK(send_rows[r] >= 0 && recv_rows[r] >= 0, name, "negative row count for rank ", r);
  const int64_t sent = std::accumulate(send_rows.begin(), send_rows.end(), int64_t{0});
  const int64_t received = std::accumulate(recv_rows.begin(), recv_rows.end(), int64_t{0});
  MG_CHECK(sent == x.size(0), name, "the send counts sum to ", sent, " rows but x has ", x.size(0),
           " (shape ", x.shape(), ")");
  int64_t row_bytes = static_cast<int64_t>(x.element_size());
  for (int64_t d = 1; d < x.dim(); ++d) row_bytes *= x.size(d);
  std::vector<int64_t> send_bytes(p), recv_bytes(p);
  for (size_t r = 0; r < p; ++r) {
    send_bytes[r] = send_rows[r] * row_bytes;
    recv_bytes[r] = recv_rows[r] * row_bytes;
  }
  Tensor y;
  {
    NoGradGuard no_grad;
    Tensor h = host_view(x);
    Tensor out = empty(with_rows(x.shape(), received), options_of(h));
    const auto start = std::chrono::steady_clock::now();
    group.comm().all_to_all(h.data_ptr(), send_bytes, out.data_ptr(), recv_bytes);
    g_all_to_all_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    y = like_input(out, x);
  }
  record(name, {y}, {x},
         [group, send = std::vector<int64_t>(send_rows.begin(), send_rows.end()),
          recv = std::vector<int64_t>(recv_rows.begin(), recv_rows.end()),
          out = OutputMeta(y)](const std::vector<Tensor>& g, InputGrads in) {
           in[0].add(all_to_all(grad_or_zeros(g, out), recv, send, group));
         });
  return y;
}

double all_to_all_seconds() {
  return g_all_to_all_seconds;
}

std::vector<int64_t> all_to_all_counts(std::span<const int64_t> counts, const Group& group) {
  const char* name = "dist.all_to_all_counts";
  MG_CHECK(group.member(), name, "this process is not a member of the group");
  const size_t p = static_cast<size_t>(group.size());
  MG_CHECK(counts.size() % p == 0, name, "expects the same number of values for each of the ", p,
           " ranks, got ", counts.size());
  const int64_t bytes = static_cast<int64_t>(counts.size() / p * sizeof(int64_t));
  std::vector<int64_t> sizes(p, bytes);
  std::vector<int64_t> out(counts.size());
  group.comm().all_to_all(counts.data(), sizes, out.data(), sizes);
  return out;
}

void barrier(const Group& group) {
  MG_CHECK(group.member(), "dist.barrier", "this process is not a member of the group");
  group.comm().barrier();
}

}  // namespace mixgrad::dist
