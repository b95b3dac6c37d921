#pragma once
// Internal to the data readers: whole-file reads (with transparent gunzip) and the one error
// format they share, "op: 'path': detail", so every message names the file it is about.
#include <cstddef>
#include <string>
#include <vector>

#include "core/error.h"

namespace mixgrad::data::internal {

// Throws Error(op, "'path': " + parts...).
template <class... Parts>
[[noreturn]] void fail(const char* op, const std::string& path, const Parts&... parts) {
  throw Error(op, "'" + path + "': " + ::mixgrad::detail::concat(parts...));
}

// The size of a regular file in bytes; throws Error naming `op` when it is missing or not a file.
std::size_t file_size_of(const char* op, const std::string& path);

// The whole file, read in one go.
std::vector<unsigned char> read_file(const char* op, const std::string& path);

struct FileContents {
  std::vector<unsigned char> bytes;
  bool gzipped = false;  // whether `bytes` were inflated from a gzip file
};

// The whole file, inflated when it starts with the gzip magic 1f 8b (whatever its name). A
// corrupt or truncated gzip stream throws Error naming the compressed byte offset.
FileContents read_file_gunzipped(const char* op, const std::string& path);

// "byte offset N", marked as an offset into the decompressed data when it is.
std::string byte_offset(std::size_t offset, bool decompressed = false);

}  // namespace mixgrad::data::internal
