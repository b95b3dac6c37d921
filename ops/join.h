#pragma once
// Joining and splitting tensors.
#include <vector>

#include "core/tensor.h"

namespace mixgrad {

// Concatenates along an existing dim; all other dims must match (dtypes promote).
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Joins along a new dim; all shapes must match.
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Views of `split_size`-long pieces along dim (the last may be shorter).
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
// Views with the given sizes along dim (they must add up to the dim's size).
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
// `chunks` near-equal views along dim (fewer if the dim is too short, as PyTorch).
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
// Tiles x `repeats[d]` times along each dim (repeats may add leading dims).
Tensor repeat(const Tensor& x, const Shape& repeats);

}  // namespace mixgrad
