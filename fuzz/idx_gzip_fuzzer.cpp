// The IDX readers on gzip files made from the input: byte 0 picks how the stream is damaged,
// the rest is the IDX payload, compressed here so that mutations reach the parser behind the
// inflater instead of only breaking the deflate stream.
#include <zlib.h>

#include "fuzz/fuzz_input.h"
#include "fuzz/idx_checks.h"

namespace {

std::string gzip(const uint8_t* data, size_t size) {
  z_stream z{};
  // 15 + 16: a gzip wrapper, not zlib's.
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    mixgrad::fuzz::finding("deflateInit2 failed");
  std::string out(deflateBound(&z, size), '\0');
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) mixgrad::fuzz::finding("deflate failed");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = bytes[0];
  const uint8_t* payload = bytes + 1;
  const size_t n = size - 1;
  std::string file;
  switch (mode % 4) {
    case 0:  // a well-formed stream
      file = gzip(payload, n);
      break;
    case 1:  // cut short at a point the next byte picks
      file = gzip(payload, n);
      file.resize(n == 0 ? 0 : file.size() * payload[0] / 256);
      break;
    case 2:  // the payload split over two gzip members
      file = gzip(payload, n / 2) + gzip(payload + n / 2, n - n / 2);
      break;
    default:  // trailing bytes after the stream
      file = gzip(payload, n) + std::string(1 + mode / 4, '\x1f');
      break;
  }
  mixgrad::fuzz::read_idx_every_way(
      mixgrad::fuzz::write_input(file.data(), file.size(), "in.idx.gz"));
  return 0;
}
