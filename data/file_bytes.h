#pragma once
// Internal to the data readers: opening and reading whole files (data/file_stream.h reads
// gzip-compressed ones) and the one error format they share, "op: 'path': detail", so every message
// names the file it is about.
#include <cstddef>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "io/file_io.h"

namespace mixgrad::data::internal {

// Throws Error(op, "'path': " + parts...).
template <class... Parts>
[[noreturn]] void fail(const char* op, const std::string& path, const Parts&... parts) {
  throw Error(op, "'" + path + "': " + ::mixgrad::detail::concat(parts...));
}

// Throws `error` again as Error(op, "'path': " + its detail), so that an error from a helper that
// knows nothing of files (shape checks, the allocator) still names the file it is about.
[[noreturn]] void rethrow_naming_file(const char* op, const std::string& path, const Error& error);

// Bytes that `shape` elements of `element_size` bytes take, for a shape read from a file: every
// size >= 0 and the element count within int64 (checked_numel), the bytes within what mixgrad
// can allocate (checked_nbytes). Throws Error naming the file otherwise, so that no reader
// compares, allocates or indexes with a wrapped-around size.
std::size_t checked_data_bytes(const char* op, const std::string& path, const Shape& shape,
                               std::size_t element_size);

// A tensor of `shape` for a file's data, uninitialised. The shape is checked first
// (checked_numel: no negative size, an element count within int64); a bad shape or a failed
// allocation throws Error naming the file. Callers check that the file holds the bytes the
// shape needs before calling this.
Tensor empty_for_file(const char* op, const std::string& path, const Shape& shape, DType dtype);

// The file at `path`, open for reading, with errors in the readers' format. Refuses anything but
// a regular file (a FIFO, /dev/zero, a directory) with an Error instead of blocking or reading
// an endless stream.
io::InputFile open_file(const char* op, const std::string& path);

// The whole regular file, read in one go.
std::vector<unsigned char> read_file(const char* op, const std::string& path);

// "byte offset N", marked as an offset into the decompressed data when it is.
std::string byte_offset(std::size_t offset, bool decompressed = false);

}  // namespace mixgrad::data::internal
