#pragma once
// Raw little-endian float32 vectors with no header, as MANN stores its normalisation statistics
// (Xmean.bin, Xstd.bin, Ymean.bin, Ystd.bin) and its exported weights.
#include <cstdint>
#include <optional>
#include <string>

#include "core/tensor.h"

namespace mixgrad::data {

// The file's values as a 1-D float32 tensor. Throws mixgrad::Error naming the file when it
// cannot be read, when its size is not a multiple of 4 (truncated: the error gives the byte
// offset of the incomplete value), or when `expected_count` is given and differs from the
// number of values.
Tensor read_float32_binary(const std::string& path,
                           std::optional<int64_t> expected_count = std::nullopt);

// Writes the float32 tensor's values in row-major order (any shape and layout), replacing the
// file. Throws for an undefined or non-float32 tensor (no silent narrowing of float64) and when
// the file cannot be written completely.
void write_float32_binary(const std::string& path, const Tensor& values);

}  // namespace mixgrad::data
