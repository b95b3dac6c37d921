#pragma once
// Internal to the data readers: a data file's bytes in order, inflated on the fly when the file is
// gzip-compressed. A reader takes as many bytes as its header says it needs and then asks whether
// the data has ended, so a small file that inflates to gigabytes costs no more than the header
// promises.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/file_io.h"

namespace mixgrad::data::internal {

class FileStream {
 public:
  // Opens `path` (regular files only, see internal::open_file). Gzip is recognised by the magic
  // bytes 1f 8b, whatever the file's name.
  FileStream(const char* op, const std::string& path);
  ~FileStream();
  FileStream(const FileStream&) = delete;
  FileStream& operator=(const FileStream&) = delete;

  bool gzipped() const { return inflater_ != nullptr; }
  // Appends the next `n` bytes of the (decompressed) data to `out`, or all that remain when fewer
  // do. Memory grows with the bytes really read, never with `n` alone. Throws Error naming the
  // file and the compressed byte offset for a corrupt or truncated gzip stream, and for running
  // out of memory.
  void read(std::vector<unsigned char>& out, std::size_t n);
  // Whether the data has ended; inflates at most one more byte to find out.
  bool at_end();

 private:
  class Inflater;

  const char* op_;
  std::string path_;
  io::InputFile file_;
  uint64_t offset_ = 0;                 // next byte of a plain file
  std::unique_ptr<Inflater> inflater_;  // for a gzip file
};

}  // namespace mixgrad::data::internal
