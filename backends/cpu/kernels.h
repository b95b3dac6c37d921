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
void im2col(const Tensor& columns, const Tensor& input, const kernels::ConvGeometry& geometry);
void col2im(const Tensor& grad_input, const Tensor& columns, const kernels::ConvGeometry& geometry);
void conv2d_direct(const Tensor& out, const Tensor& input, const Tensor& weight, const Tensor& bias,
                   const kernels::ConvGeometry& geometry);
void conv2d_direct_weight_grad(const Tensor& grad_weight, const Tensor& grad_out,
                               const Tensor& input, const kernels::ConvGeometry& geometry);
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
void norm_moments(const Tensor& mean, const Tensor& var, const Tensor& x);
void norm_affine(const Tensor& out, const Tensor& x, const Tensor& x_scale, const Tensor& y,
                 const Tensor& y_scale, const Tensor& shift);
void norm_backward_sums(const Tensor& sum_dy, const Tensor& sum_dy_xc, const Tensor& dy,
                        const Tensor& x, const Tensor& mean);
void pool2d(kernels::PoolMode mode, const Tensor& out, const Tensor& indices, const Tensor& in,
            const kernels::Pool2dParams& params);
void pool2d_backward(kernels::PoolMode mode, const Tensor& grad_in, const Tensor& grad_out,
                     const Tensor& indices, const kernels::Pool2dParams& params);
void uniform(const Tensor& out, uint64_t seed, uint64_t first_block, double low, double high);
void normal(const Tensor& out, uint64_t seed, uint64_t first_block, double mean, double std);
void randint(const Tensor& out, uint64_t seed, uint64_t first_block, int64_t low, int64_t high);
void bincount(const Tensor& out, const Tensor& in, const Tensor& weights);
Tensor nonzero(const Tensor& in);

}  // namespace mixgrad::cpu
