#include "data/file_stream.h"

#include <zlib.h>

#include <algorithm>
#include <climits>

#include "data/file_bytes.h"

namespace mixgrad::data::internal {

namespace {

// Output grows by doubling from at least this much, so inflating costs O(size) copies.
constexpr std::size_t kMinInflateBuffer = std::size_t{1} << 20;

bool starts_with_gzip_magic(const io::InputFile& file) {
  if (file.size() < 2) return false;
  unsigned char magic[2];
  file.read_at(0, magic, 2);
  return magic[0] == 0x1f && magic[1] == 0x8b;
}

}  // namespace

// The compressed file in memory and a zlib stream over it that inflates on demand.
class FileStream::Inflater {
 public:
  Inflater(const char* op, const std::string& path, const io::InputFile& file)
      : op_(op), path_(path), packed_(file.read_all<std::vector<unsigned char>>()) {
    // 16 + MAX_WBITS: expect the gzip wrapper, not raw zlib.
    if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) fail(op_, path_, "cannot initialise zlib");
  }
  ~Inflater() { inflateEnd(&zs_); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates into [out, out + capacity) and returns the bytes produced: `capacity` unless the
  // stream ends first.
  std::size_t inflate_into(unsigned char* out, std::size_t capacity) {
    std::size_t produced = 0;
    while (produced < capacity && !ended_) {
      // zlib counts in 32-bit uInt: feed and drain in pieces that fit.
      const std::size_t in_chunk = std::min<std::size_t>(packed_.size() - consumed_, UINT_MAX);
      const std::size_t out_chunk = std::min<std::size_t>(capacity - produced, UINT_MAX);
      zs_.next_in = packed_.data() + consumed_;
      zs_.avail_in = static_cast<uInt>(in_chunk);
      zs_.next_out = out + produced;
      zs_.avail_out = static_cast<uInt>(out_chunk);
      const int ret = inflate(&zs_, Z_NO_FLUSH);
      consumed_ += in_chunk - zs_.avail_in;
      produced += out_chunk - zs_.avail_out;
      if (ret == Z_STREAM_END) {
        if (consumed_ == packed_.size()) {
          ended_ = true;
        } else {
          inflateReset(&zs_);  // gzip allows several members back to back
        }
      } else if (ret == Z_BUF_ERROR && consumed_ == packed_.size()) {
        fail(op_, path_, "truncated gzip stream: compressed data ends at byte offset ", consumed_,
             " before the end of the stream");
      } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
        fail(op_, path_, "corrupt gzip stream near compressed byte offset ", consumed_, ": ",
             zs_.msg ? zs_.msg : "zlib error " + std::to_string(ret));
      }
    }
    return produced;
  }

 private:
  const char* op_;
  std::string path_;
  std::vector<unsigned char> packed_;
  z_stream zs_{};
  std::size_t consumed_ = 0;
  bool ended_ = false;
};

FileStream::FileStream(const char* op, const std::string& path)
    : op_(op), path_(path), file_(open_file(op, path)) {
  if (starts_with_gzip_magic(file_)) inflater_ = std::make_unique<Inflater>(op_, path_, file_);
}

FileStream::~FileStream() = default;

void FileStream::read(std::vector<unsigned char>& out, std::size_t n) {
  io::out_of_memory_as_error(op_, "'" + path_ + "'", [&] {
    std::size_t have = out.size();
    if (!inflater_) {
      const auto take = static_cast<std::size_t>(std::min<uint64_t>(n, file_.size() - offset_));
      out.resize(have + take);
      file_.read_at(offset_, out.data() + have, take);
      offset_ += take;
      return;
    }
    const std::size_t target = have + n;
    while (have < target) {
      out.resize(std::min(target, std::max(2 * have, have + kMinInflateBuffer)));
      const std::size_t got = inflater_->inflate_into(out.data() + have, out.size() - have);
      have += got;
      if (have < out.size()) break;  // the stream ended
    }
    out.resize(have);
  });
}

bool FileStream::at_end() {
  if (!inflater_) return offset_ == file_.size();
  unsigned char next;
  return inflater_->inflate_into(&next, 1) == 0;
}

}  // namespace mixgrad::data::internal
