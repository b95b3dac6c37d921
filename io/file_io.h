#pragma once
// Reading regular files and crash-safe file replacement, shared by the file formats in io/ and
// the dataset readers in data/.
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>

#include "core/error.h"

namespace mixgrad::io {

// Creates directory `dir` (and its parents) if needed and checks that a file can be written in
// it, so that a long job fails at its start rather than when it first saves. Throws Error(op,
// ...) naming the directory and the reason.
void ensure_writable_directory(const std::string& dir, const std::string& op);

// Calls `read` and turns the standard library's out-of-memory exceptions (std::bad_alloc,
// std::length_error) into Error(op, label + ": ..."), so that a file that needs more memory than
// there is fails like any other bad file instead of escaping as a foreign exception type.
template <class Read>
decltype(auto) out_of_memory_as_error(const std::string& op, const std::string& label,
                                      Read&& read) {
  try {
    return read();
  } catch (const std::bad_alloc&) {
    throw Error(op, label + ": out of memory while reading the file");
  } catch (const std::length_error&) {
    throw Error(op, label + ": out of memory while reading the file (a buffer too large)");
  }
}

// A regular file open for reading. Anything else a path can name is refused with an Error,
// without blocking: a directory, a FIFO (opening one would wait for a writer forever), a socket
// or a device such as /dev/zero (an endless stream). Readers take the file's size from here and
// check what a header claims against it before they allocate.
class InputFile {
 public:
  // Opens `path`. Every Error reads "<op>: <label>: <problem>"; `label` names the file the way
  // the caller's other messages do (by default the path itself).
  InputFile(const std::string& path, std::string op, std::string label = {});
  ~InputFile();
  InputFile(InputFile&& other) noexcept;
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  InputFile& operator=(InputFile&&) = delete;

  // The size when the file was opened; nothing past it is read, so a file that grows meanwhile
  // is read as it was.
  uint64_t size() const { return size_; }
  // Reads bytes [offset, offset + nbytes), which must lie within size(). Throws Error naming the
  // offset when the file ends sooner (it shrank while being read) or the read fails.
  void read_at(uint64_t offset, void* data, std::size_t nbytes) const;
  // The whole file; running out of memory for it is an Error, not std::bad_alloc.
  template <class Bytes>
  Bytes read_all() const {
    return out_of_memory_as_error(op_, label_, [&] {
      Bytes bytes;
      bytes.resize(static_cast<std::size_t>(size_));
      if (!bytes.empty()) read_at(0, bytes.data(), bytes.size());
      return bytes;
    });
  }
  // Throws Error(op, label + ": " + detail).
  [[noreturn]] void fail(const std::string& detail) const;

 private:
  std::string op_;
  std::string label_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// The complete contents of the regular file at `path`. Throws Error(op, ...) naming the path and
// the system's reason when it cannot be opened or read (missing, no permission, not a regular
// file, out of memory).
std::string read_file_bytes(const std::string& path, const std::string& op);

// Replaces a file so that it holds either its old contents or the complete new ones, never a
// mix: bytes go to a temporary file beside `path` ("<path>.tmp-<pid>-<n>"), which commit()
// flushes to disk and renames over `path`. Until commit() succeeds the target is untouched, and
// the temporary file is removed when the writer is destroyed uncommitted (an exception midway).
// Every failure throws Error(op, ...) naming the file and the system's reason.
//
// A process killed mid-save (SIGKILL, power loss) cannot remove its temporary file, so each new
// writer of `path` first removes the ones of dead writers: names exactly "<path>.tmp-<pid>-<n>"
// whose pid no longer exists (kill(pid, 0) fails with ESRCH), never this process's own nor those
// of running processes. What can remain, or go wrong, all outside one host's view of its pids:
//  - a dead writer's pid reused by another process keeps its file until that process ends;
//  - a writer killed before its parent reaped it (a zombie) counts as running until reaped;
//  - pids of writers on another host sharing the filesystem, or in another pid namespace, mean
//    nothing here: their files stay while the same pid runs here, and a live remote writer's
//    file is removed when it does not, whereupon that writer's commit() fails with an Error and
//    its target keeps its old contents (never a partial file).
// Loading never removes anything (it needs no write permission).
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
