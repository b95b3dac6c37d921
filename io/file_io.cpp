#include "io/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include "core/error.h"

namespace mixgrad::io {

namespace {

std::string errno_message(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// Closes a descriptor on every way out of a scope.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { ::close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

// One syscall moves at most this much, so huge tensors never hit per-call size limits.
constexpr std::size_t kMaxChunk = std::size_t{1} << 30;

// Makes a completed rename survive power loss. Best effort: the new file is already complete
// and in place, so a filesystem that cannot sync directories loses durability, not atomicity.
void sync_parent_directory(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void ensure_writable_directory(const std::string& dir, const std::string& op) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  MG_CHECK(!ec, op, "cannot create directory ", dir, ": ", ec.message());
  MG_CHECK(fs::is_directory(dir), op, dir, " is not a directory");
  const fs::path probe = fs::path(dir) / (".mixgrad-write-test-" + std::to_string(getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  MG_CHECK(fd >= 0, op, "cannot write into directory ", dir, ": ", std::strerror(errno));
  ::close(fd);
  fs::remove(probe, ec);
}

std::string read_file_bytes(const std::string& path, const std::string& op) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(op, path + ": cannot open file: " + errno_message(errno));
  FdCloser closer(fd);
  struct stat info {};
  if (::fstat(fd, &info) != 0)
    throw Error(op, path + ": cannot stat file: " + errno_message(errno));
  if (S_ISDIR(info.st_mode)) throw Error(op, path + ": is a directory, not a file");

  std::string bytes;
  // The stat size is only a hint: read until end of file in case the file is growing.
  std::size_t capacity = S_ISREG(info.st_mode) ? static_cast<std::size_t>(info.st_size) + 1 : 0;
  bytes.resize(std::max<std::size_t>(capacity, 4096));
  std::size_t used = 0;
  while (true) {
    if (used == bytes.size()) bytes.resize(bytes.size() * 2);
    const ssize_t got = ::read(fd, bytes.data() + used, std::min(bytes.size() - used, kMaxChunk));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw Error(op, path + ": read failed: " + errno_message(errno));
    }
    if (got == 0) break;
    used += static_cast<std::size_t>(got);
  }
  bytes.resize(used);
  return bytes;
}

AtomicFileWriter::AtomicFileWriter(std::string path, std::string op)
    : path_(std::move(path)), op_(std::move(op)) {
  static std::atomic<uint64_t> counter{0};  // distinct names for saves from several threads
  temp_path_ = path_ + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot create the temporary file", errno_message(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

void AtomicFileWriter::fail(const char* what, const std::string& reason) const {
  throw Error(op_, path_ + ": " + what + " '" + temp_path_ + "': " + reason);
}

void AtomicFileWriter::write(const void* data, std::size_t nbytes) {
  MG_CHECK(fd_ >= 0 && !committed_, op_, path_, ": write after commit");
  const char* p = static_cast<const char*>(data);
  while (nbytes > 0) {
    const ssize_t put = ::write(fd_, p, std::min(nbytes, kMaxChunk));
    if (put < 0) {
      if (errno == EINTR) continue;
      fail("cannot write to", errno_message(errno));
    }
    if (put == 0) fail("no progress writing to", errno_message(EIO));
    p += put;
    nbytes -= static_cast<std::size_t>(put);
  }
}

void AtomicFileWriter::commit() {
  MG_CHECK(fd_ >= 0 && !committed_, op_, path_, ": commit called twice");
  if (::fsync(fd_) != 0) fail("cannot flush to disk", errno_message(errno));
  const int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0) fail("cannot close", errno_message(errno));
  std::error_code ec;
  std::filesystem::rename(temp_path_, path_, ec);
  if (ec) fail("cannot move into place the temporary file", ec.message());
  committed_ = true;
  sync_parent_directory(path_);
}

}  // namespace mixgrad::io
