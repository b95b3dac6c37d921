#pragma once
// Scratch directories and raw byte helpers for the file-format tests.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/scratch_dir.h"
#include "common/test_util.h"

namespace mixgrad::testing {

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// `value` as `nbytes` little-endian bytes, built with shifts (independent of host byte order).
inline std::string little_endian(uint64_t value, int nbytes) {
  std::string out;
  for (int i = 0; i < nbytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  return out;
}

// A safetensors file: the header's length, the header, the data buffer.
inline std::string safetensors_bytes(const std::string& header, const std::string& data = "") {
  return little_endian(header.size(), 8) + header + data;
}

// The raw bytes of a tensor's elements in row-major order.
inline std::string element_bytes(const Tensor& t) {
  Tensor dense = t.contiguous();
  const auto* p = static_cast<const char*>(dense.data_ptr());
  return std::string(p, p + dense.numel() * static_cast<int64_t>(dense.element_size()));
}

// Same dtype, shape and bit pattern of every element (so NaN payloads and -0.0 count).
inline void expect_bitwise_equal(const Tensor& actual, const Tensor& expected) {
  ASSERT_TRUE(actual.defined());
  EXPECT_EQ(actual.dtype(), expected.dtype());
  EXPECT_EQ(actual.shape(), expected.shape());
  EXPECT_EQ(element_bytes(actual), element_bytes(expected));
}

}  // namespace mixgrad::testing
