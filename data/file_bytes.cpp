#include "data/file_bytes.h"

#include <zlib.h>

#include <algorithm>
#include <climits>

#include "ops/creation.h"

namespace mixgrad::data::internal {

namespace {

// Output grows by doubling from at least this much, so inflating costs O(size) copies.
constexpr std::size_t kMinInflateBuffer = std::size_t{1} << 20;
// Deflate cannot expand data by more than about this factor; caps the size hint below.
constexpr std::size_t kMaxDeflateRatio = 1032;

// The uncompressed size a single-member gzip file records in its last 4 bytes (mod 2^32),
// trusted only as far as deflate could really expand the data.
std::size_t inflated_size_hint(const std::vector<unsigned char>& packed) {
  const std::size_t n = packed.size();
  if (n < 4) return 0;
  const std::size_t recorded =
      static_cast<std::size_t>(packed[n - 4]) | static_cast<std::size_t>(packed[n - 3]) << 8 |
      static_cast<std::size_t>(packed[n - 2]) << 16 | static_cast<std::size_t>(packed[n - 1]) << 24;
  return std::min(recorded, n * kMaxDeflateRatio);
}

// Ends the zlib stream however inflating leaves the function.
struct InflateStream {
  z_stream zs{};
  InflateStream(const char* op, const std::string& path) {
    // 16 + MAX_WBITS: expect the gzip wrapper, not raw zlib.
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) fail(op, path, "cannot initialise zlib");
  }
  ~InflateStream() { inflateEnd(&zs); }
  InflateStream(const InflateStream&) = delete;
  InflateStream& operator=(const InflateStream&) = delete;
};

std::vector<unsigned char> gunzip(const char* op, const std::string& path,
                                  const std::vector<unsigned char>& packed) {
  InflateStream stream(op, path);
  z_stream& zs = stream.zs;
  // One spare byte: a stream whose size the hint gives exactly ends without a regrowth.
  std::vector<unsigned char> out(inflated_size_hint(packed) + 1);
  std::size_t consumed = 0, produced = 0;
  for (;;) {
    if (produced == out.size()) out.resize(std::max(out.size() * 2, kMinInflateBuffer));
    // zlib counts in 32-bit uInt: feed and drain in pieces that fit.
    const std::size_t in_chunk = std::min<std::size_t>(packed.size() - consumed, UINT_MAX);
    const std::size_t out_chunk = std::min<std::size_t>(out.size() - produced, UINT_MAX);
    zs.next_in = const_cast<unsigned char*>(packed.data() + consumed);
    zs.avail_in = static_cast<uInt>(in_chunk);
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(out_chunk);
    const int ret = inflate(&zs, Z_NO_FLUSH);
    consumed += in_chunk - zs.avail_in;
    produced += out_chunk - zs.avail_out;
    if (ret == Z_STREAM_END) {
      if (consumed == packed.size()) break;
      inflateReset(&zs);  // gzip allows several members back to back
      continue;
    }
    if (ret == Z_OK) continue;
    if (ret == Z_BUF_ERROR && consumed == packed.size())
      fail(op, path, "truncated gzip stream: compressed data ends at byte offset ", consumed,
           " before the end of the stream");
    if (ret == Z_BUF_ERROR) continue;  // the output was full: the next pass grows it
    fail(op, path, "corrupt gzip stream near compressed byte offset ", consumed, ": ",
         zs.msg ? zs.msg : "zlib error " + std::to_string(ret));
  }
  out.resize(produced);
  return out;
}

}  // namespace

void rethrow_naming_file(const char* op, const std::string& path, const Error& error) {
  std::string detail = error.what();
  const std::string same_op = std::string(op) + ": ";
  if (error.op() == op && detail.starts_with(same_op)) detail.erase(0, same_op.size());
  fail(op, path, detail);
}

Tensor empty_for_file(const char* op, const std::string& path, const Shape& shape, DType dtype) {
  try {
    checked_numel(shape, op);
    return empty(shape, dtype);
  } catch (const Error& error) {
    rethrow_naming_file(op, path, error);
  }
}

io::InputFile open_file(const char* op, const std::string& path) {
  return io::InputFile(path, op, "'" + path + "'");
}

std::vector<unsigned char> read_file(const char* op, const std::string& path) {
  return open_file(op, path).read_all<std::vector<unsigned char>>();
}

FileContents read_file_gunzipped(const char* op, const std::string& path) {
  std::vector<unsigned char> bytes = read_file(op, path);
  if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
    return {
        io::out_of_memory_as_error(op, "'" + path + "'", [&] { return gunzip(op, path, bytes); }),
        true};
  return {std::move(bytes), false};
}

std::string byte_offset(std::size_t offset, bool decompressed) {
  return "byte offset " + std::to_string(offset) +
         (decompressed ? " of the decompressed data" : "");
}

}  // namespace mixgrad::data::internal
