#include "data/float_binary.h"

#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "data/file_bytes.h"
#include "ops/creation.h"

namespace mixgrad::data {

namespace {

// Reverses the bytes of each 4-byte value on big-endian hosts; the files are little-endian.
void to_or_from_little_endian(unsigned char* bytes, std::size_t count) {
  if constexpr (std::endian::native == std::endian::big) {
    for (std::size_t i = 0; i < count; ++i) {
      std::swap(bytes[4 * i], bytes[4 * i + 3]);
      std::swap(bytes[4 * i + 1], bytes[4 * i + 2]);
    }
  } else {
    (void)bytes;
    (void)count;
  }
}

}  // namespace

Tensor read_float32_binary(const std::string& path, std::optional<int64_t> expected_count) {
  const char* op = "read_float32_binary";
  const io::InputFile file = internal::open_file(op, path);
  const uint64_t size = file.size();
  if (size % 4 != 0)
    internal::fail(op, path, "truncated float32 data: ", size,
                   " bytes is not a multiple of 4; the value at ",
                   internal::byte_offset(size - size % 4), " is incomplete");
  const int64_t count = static_cast<int64_t>(size / 4);
  if (expected_count && *expected_count != count)
    internal::fail(op, path, "holds ", count, " float32 values, expected ", *expected_count);
  // The size was checked above, so the tensor holds exactly the file's bytes: read in place.
  Tensor out = internal::empty_for_file(op, path, {count}, kFloat32);
  if (count > 0) {
    file.read_at(0, out.data_ptr(), size);
    to_or_from_little_endian(static_cast<unsigned char*>(out.data_ptr()), size / 4);
  }
  return out;
}

void write_float32_binary(const std::string& path, const Tensor& values) {
  const char* op = "write_float32_binary";
  MG_CHECK(values.defined(), op, "got an undefined tensor for '", path, "'");
  MG_CHECK(values.dtype() == kFloat32, op, "expected a float32 tensor for '", path, "', got ",
           describe(values));
  const Tensor host = values.to(kCPU).contiguous();
  std::vector<unsigned char> bytes(static_cast<std::size_t>(host.numel()) * 4);
  if (!bytes.empty()) std::memcpy(bytes.data(), host.data_ptr(), bytes.size());
  to_or_from_little_endian(bytes.data(), bytes.size() / 4);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    internal::fail(op, path, "cannot open for writing: ", std::string(std::strerror(errno)));
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out)
    internal::fail(op, path, "writing ", bytes.size(),
                   " bytes failed: ", std::string(std::strerror(errno)));
}

}  // namespace mixgrad::data
