#pragma once
// CPU implementations of the primitive kernels (see backends/kernels.h for their contracts).
#include "backends/kernels.h"

namespace mixgrad::cpu {

void register_kernels();

void copy(const Tensor& dst, const Tensor& src);
void fill(const Tensor& dst, Scalar value);
void arange(const Tensor& out, double start, double step);
void unary(kernels::UnaryOp op, kernels::OpParams params, const Tensor& out, const Tensor& in);
void binary(kernels::BinaryOp op, kernels::OpParams params, const Tensor& out, const Tensor& a,
            const Tensor& b);
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
void reduce(kernels::ReduceOp op, const Tensor& out, const Tensor& indices, const Tensor& in,
            const Shape& dims);
void cumsum(const Tensor& out, const Tensor& in, int64_t dim);
void gemm(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta);
void grouped_gemm(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& group_sizes,
                  kernels::GroupedDim grouped);
void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index);
void scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
             kernels::ScatterMode mode);
void index_select(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index);
void index_scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                   kernels::ScatterMode mode, double alpha);
void sort(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim,
          bool descending, bool stable);
void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, int64_t dim,
          bool largest, bool sorted);
void softmax(const Tensor& out, const Tensor& in, int64_t dim, bool log);
void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, int64_t dim,
                      bool log);
void uniform(const Tensor& out, uint64_t seed, uint64_t first_block, double low, double high);
void normal(const Tensor& out, uint64_t seed, uint64_t first_block, double mean, double std);
void randint(const Tensor& out, uint64_t seed, uint64_t first_block, int64_t low, int64_t high);
void bincount(const Tensor& out, const Tensor& in, const Tensor& weights);
Tensor nonzero(const Tensor& in);

}  // namespace mixgrad::cpu
