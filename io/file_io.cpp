#include "io/file_io.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "core/error.h"

namespace mixgrad::io {

namespace {

std::string errno_message(int err) {
  return std::error_code(err, std::generic_category()).message();
}

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

// The pid in `name` when it is exactly "<prefix><pid>-<n>" (decimal digits only), else 0.
pid_t temporary_owner(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix)) return 0;
  name.remove_prefix(prefix.size());
  const std::size_t dash = name.find('-');
  if (dash == std::string_view::npos) return 0;
  const std::string_view pid = name.substr(0, dash), counter = name.substr(dash + 1);
  auto all_digits = [](std::string_view s, std::size_t max_length) {
    return !s.empty() && s.size() <= max_length &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!all_digits(pid, 9) || !all_digits(counter, 20)) return 0;  // pids stay below 2^22
  pid_t owner = 0;
  for (char c : pid) owner = owner * 10 + (c - '0');
  return owner;
}

// Removes the temporary files that writers of `path` left when they were killed mid-save:
// "<path>.tmp-<pid>-<n>" exactly, whose process no longer exists. Best effort, never throws.
void remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.filename().empty()) return;  // "dir/": no file name to match
  const std::string prefix = target.filename().string() + ".tmp-";
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const pid_t owner = temporary_owner(name, prefix);
    if (owner <= 0 || owner == ::getpid()) continue;  // this process's writers may be running
    // ESRCH: no such process. EPERM means it exists (another user's), so its file stays.
    if (::kill(owner, 0) != 0 && errno == ESRCH) ::unlink(it->path().c_str());
  }
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

namespace {

// What a path names, for the message that refuses it.
const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

}  // namespace

InputFile::InputFile(const std::string& path, std::string op, std::string label)
    : op_(std::move(op)), label_(label.empty() ? path : std::move(label)) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer before the checks
  // below could refuse it. It changes nothing for the regular files that pass them.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd_ < 0) fail("cannot open file: " + errno_message(errno));
  struct stat info {};
  if (::fstat(fd_, &info) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    fail("cannot stat file: " + errno_message(err));
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    fail(std::string("is ") + kind_of(info.st_mode) +
         ", not a regular file (only regular files can be read)");
  }
  size_ = static_cast<uint64_t>(info.st_size);
}

InputFile::InputFile(InputFile&& other) noexcept
    : op_(std::move(other.op_)),
      label_(std::move(other.label_)),
      fd_(std::exchange(other.fd_, -1)),
      size_(other.size_) {}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

void InputFile::fail(const std::string& detail) const {
  throw Error(op_, label_ + ": " + detail);
}

void InputFile::read_at(uint64_t offset, void* data, std::size_t nbytes) const {
  MG_CHECK(offset <= size_ && nbytes <= size_ - offset, op_, label_, ": read of ", nbytes,
           " bytes at byte offset ", offset, " past the end of the ", size_, "-byte file");
  char* p = static_cast<char*>(data);
  while (nbytes > 0) {
    const ssize_t got = ::pread(fd_, p, std::min(nbytes, kMaxChunk), static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      fail("read failed at byte offset " + std::to_string(offset) + ": " + errno_message(errno));
    }
    if (got == 0)
      fail("the file ends at byte offset " + std::to_string(offset) + " but was " +
           std::to_string(size_) + " bytes when opened (it shrank while being read)");
    p += got;
    offset += static_cast<uint64_t>(got);
    nbytes -= static_cast<std::size_t>(got);
  }
}

std::string read_file_bytes(const std::string& path, const std::string& op) {
  return InputFile(path, op).read_all<std::string>();
}

AtomicFileWriter::AtomicFileWriter(std::string path, std::string op)
    : path_(std::move(path)), op_(std::move(op)) {
  remove_stale_temporaries(path_);
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
