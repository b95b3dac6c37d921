#pragma once
// Tensor factories. Floating factories use default_dtype() unless options name a dtype. The
// memory-only ones (empty, empty_strided, empty_like, from_blob) and TensorOptions are core's
// (core/factory.h), which backends use too.
#include <functional>
#include <initializer_list>
#include <optional>
#include <vector>

#include "core/factory.h"
#include "core/generator.h"
#include "core/tensor.h"

namespace mixgrad {

Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
// dtype defaults to the value's natural dtype (int64 for integers, default float for floats).
Tensor full(const Shape& shape, Scalar value, TensorOptions options = {});
Tensor scalar_tensor(Scalar value, TensorOptions options = {});

Tensor zeros_like(const Tensor& t, std::optional<DType> dtype = std::nullopt);
Tensor ones_like(const Tensor& t, std::optional<DType> dtype = std::nullopt);
Tensor full_like(const Tensor& t, Scalar value, std::optional<DType> dtype = std::nullopt);

// [start, end) in steps of `step`; int64 when all three are integral, else default float.
Tensor arange(Scalar end, TensorOptions options = {});
Tensor arange(Scalar start, Scalar end, Scalar step = 1, TensorOptions options = {});
// `steps` evenly spaced values from start to end inclusive.
Tensor linspace(double start, double end, int64_t steps, TensorOptions options = {});
// n x m identity (m defaults to n).
Tensor eye(int64_t n, std::optional<int64_t> m = std::nullopt, TensorOptions options = {});

// Random factories draw from `gen` (default: the global generator, see manual_seed()).
Tensor rand(const Shape& shape, TensorOptions options = {}, Generator* gen = nullptr);
Tensor randn(const Shape& shape, TensorOptions options = {}, Generator* gen = nullptr);
// Integers uniformly in [low, high); int64 unless options say otherwise.
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options = {},
               Generator* gen = nullptr);
Tensor rand_like(const Tensor& t, Generator* gen = nullptr);
Tensor randn_like(const Tensor& t, Generator* gen = nullptr);
// A random permutation of 0..n-1 (int64).
Tensor randperm(int64_t n, TensorOptions options = {}, Generator* gen = nullptr);

// Copies host data into a new tensor. `shape` defaults to 1-D of the data's length.
template <class T>
Tensor tensor(const std::vector<T>& data, std::optional<Shape> shape = std::nullopt,
              TensorOptions options = {});
template <class T>
Tensor tensor(std::initializer_list<T> data, TensorOptions options = {}) {
  return tensor(std::vector<T>(data), std::nullopt, options);
}
// Nested initializer lists: tensor({{1.f, 2.f}, {3.f, 4.f}}) is 2x2.
template <class T>
Tensor tensor(std::initializer_list<std::initializer_list<T>> rows, TensorOptions options = {}) {
  std::vector<T> flat;
  int64_t cols = rows.size() ? static_cast<int64_t>(rows.begin()->size()) : 0;
  for (const auto& r : rows) {
    MG_CHECK(static_cast<int64_t>(r.size()) == cols, "tensor", "ragged nested list: rows of ", cols,
             " and ", r.size(), " elements");
    flat.insert(flat.end(), r.begin(), r.end());
  }
  return tensor(flat, Shape{static_cast<int64_t>(rows.size()), cols}, options);
}

extern template Tensor tensor<float>(const std::vector<float>&, std::optional<Shape>,
                                     TensorOptions);
extern template Tensor tensor<double>(const std::vector<double>&, std::optional<Shape>,
                                      TensorOptions);
extern template Tensor tensor<int64_t>(const std::vector<int64_t>&, std::optional<Shape>,
                                       TensorOptions);
extern template Tensor tensor<int32_t>(const std::vector<int32_t>&, std::optional<Shape>,
                                       TensorOptions);
extern template Tensor tensor<bool>(const std::vector<bool>&, std::optional<Shape>, TensorOptions);

}  // namespace mixgrad
