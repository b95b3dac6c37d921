#pragma once
// Whole-file reads and crash-safe file replacement, shared by the file formats in io/.
#include <cstddef>
#include <string>

namespace mixgrad::io {

// Creates directory `dir` (and its parents) if needed and checks that a file can be written in
// it, so that a long job fails at its start rather than when it first saves. Throws Error(op,
// ...) naming the directory and the reason.
void ensure_writable_directory(const std::string& dir, const std::string& op);

// The complete contents of the file at `path`. Throws Error(op, ...) naming the path and the
// system's reason when it cannot be opened or read (missing, a directory, no permission).
std::string read_file_bytes(const std::string& path, const std::string& op);

// Replaces a file so that it holds either its old contents or the complete new ones, never a
// mix: bytes go to a temporary file beside `path` ("<path>.tmp-<pid>-<n>"), which commit()
// flushes to disk and renames over `path`. Until commit() succeeds the target is untouched, and
// the temporary file is removed when the writer is destroyed uncommitted (an exception midway).
// Every failure throws Error(op, ...) naming the file and the system's reason.
class AtomicFileWriter {
 public:
  // Creates the temporary file; throws if the directory does not allow it.
  AtomicFileWriter(std::string path, std::string op);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  // Appends `nbytes` bytes; throws on a failed or short write (disk full, file size limit).
  void write(const void* data, std::size_t nbytes);
  // Flushes the data to disk and moves the file into place. Throws (leaving `path` as it was)
  // if either step fails; callable once.
  void commit();

 private:
  [[noreturn]] void fail(const char* what, const std::string& reason) const;

  std::string path_;
  std::string op_;
  std::string temp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace mixgrad::io
