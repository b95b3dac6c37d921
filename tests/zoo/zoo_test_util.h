#pragma once
// What the zoo's tests share: a scratch directory, the real `mixgrad` binary run as a user runs
// it (run_mixgrad needs MIXGRAD_COMMAND, the binary's path, which tests/CMakeLists.txt defines
// for the zoo tests), the checks every user mistake must pass, and small generated data in the
// formats the zoo's models read.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/scratch_dir.h"

extern char** environ;

namespace mixgrad::testing {

using TempDir = ScratchDir;

// ---------------------------------------------------------------------------------------------
// Running a program

struct CommandResult {
  int exit_code = -1;  // the exit status, or -1 when the program did not exit normally
  int signal = 0;      // the signal that ended it (0: it exited)
  bool timed_out = false;
  std::string out, err;

  // The stderr lines (without their newlines) that contain `text`.
  std::vector<std::string> err_lines_with(const std::string& text) const {
    std::vector<std::string> lines;
    std::istringstream in(err);
    for (std::string line; std::getline(in, line);) {
      if (line.find(text) != std::string::npos) lines.push_back(line);
    }
    return lines;
  }
  // The stdout lines, without their newlines.
  std::vector<std::string> out_lines() const {
    std::vector<std::string> lines;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
};

// For failure messages: how the program ended and what it printed.
inline std::ostream& operator<<(std::ostream& os, const CommandResult& r) {
  os << "exit " << r.exit_code;
  if (r.signal != 0) os << " (signal " << r.signal << ")";
  if (r.timed_out) os << " (timed out)";
  return os << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err << "---";
}

// Runs `program` with `args` (no shell: every argument reaches the program as given) and the
// test's environment, capturing stdout and stderr. The program is killed after `timeout_s`, so
// that a hung run fails its test instead of stalling the whole suite.
inline CommandResult run_program(const std::string& program, const std::vector<std::string>& args,
                                 double timeout_s = 300.0) {
  CommandResult result;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<std::string> storage{program};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (spawned != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    ADD_FAILURE() << "cannot run " << program << ": " << std::strerror(spawned);
    return result;
  }

  // Both pipes are drained together: a program that fills one while the test waits on the
  // other would otherwise block forever.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    const int ready = ::poll(fds, 2, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (const pollfd& p : fds) {
    if (p.fd >= 0) ::close(p.fd);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

#ifdef MIXGRAD_COMMAND
// The built `mixgrad` command with `args`.
inline CommandResult run_mixgrad(const std::vector<std::string>& args, double timeout_s = 300.0) {
  return run_program(MIXGRAD_COMMAND, args, timeout_s);
}
#endif

// What a user mistake must look like from outside (the contract for the `mixgrad`
// command): a message and a non-zero status, never a crash, never a checkpoint.

// For a scope: the environment of the dist tests (MIXGRAD_DIST_TEST_ENV) for the `mixgrad
// --ep/--dp` runs a test starts, restored at its end. Under the sanitize preset the processes
// mpirun starts check no leaks: OpenMPI keeps allocations of components it unloads at exit.
class DistCommandEnvironment {
 public:
  DistCommandEnvironment() {
    const char* asan = std::getenv("ASAN_OPTIONS");
    set("ASAN_OPTIONS", std::string(asan ? asan : "") + ":detect_leaks=0");
    set("OMPI_MCA_btl_vader_single_copy_mechanism", "none");
    set("MIXGRAD_DIST_TIMEOUT", "120");
  }
  ~DistCommandEnvironment() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }
  DistCommandEnvironment(const DistCommandEnvironment&) = delete;
  DistCommandEnvironment& operator=(const DistCommandEnvironment&) = delete;

 private:
  void set(const std::string& name, const std::string& value) {
    const char* old = std::getenv(name.c_str());
    saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    setenv(name.c_str(), value.c_str(), 1);
  }
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// Signs of a crash or an uncaught exception rather than a handled user error.
inline void expect_no_crash(const CommandResult& r) {
  EXPECT_EQ(r.signal, 0) << r;
  EXPECT_FALSE(r.timed_out) << r;
  for (const char* sign : {"terminate called", "Aborted", "what():", "Segmentation fault",
                           "core dumped", "stack trace", "Stack trace", "backtrace"}) {
    EXPECT_EQ(r.err.find(sign), std::string::npos) << "'" << sign << "' in\n" << r;
  }
}

// A handled user error: status 1, exactly one `mixgrad: error:` line on stderr holding every one
// of `words`, nothing on stdout.
inline void expect_user_error(const CommandResult& r, const std::vector<std::string>& words) {
  expect_no_crash(r);
  EXPECT_EQ(r.exit_code, 1) << r;
  const std::vector<std::string> lines = r.err_lines_with("mixgrad: error:");
  ASSERT_EQ(lines.size(), 1u) << r;
  for (const std::string& w : words) {
    EXPECT_NE(lines[0].find(w), std::string::npos) << "'" << w << "' not in: " << lines[0];
  }
  EXPECT_EQ(r.out, "") << r;
}

// A mistake CLI11 reports while parsing: non-zero status, a message naming `word`.
inline void expect_usage_error(const CommandResult& r, const std::string& word) {
  expect_no_crash(r);
  EXPECT_NE(r.exit_code, 0) << r;
  EXPECT_NE(r.exit_code, -1) << r;
  EXPECT_NE(r.err.find(word), std::string::npos) << r;
}

// No checkpoint, not even a half-written one (the atomic writer's temporary), under `dir`.
inline void expect_no_checkpoint(const std::filesystem::path& dir) {
  if (!std::filesystem::exists(dir)) return;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    EXPECT_EQ(name.find(".safetensors"), std::string::npos) << entry.path();
    EXPECT_EQ(name.find(".tmp-"), std::string::npos) << entry.path();
  }
}

// Whether `name` is an executable on the PATH.
inline bool program_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && ::access((std::filesystem::path(dir) / name).c_str(), X_OK) == 0)
      return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Files

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes `bytes` to `path`, gzip-compressed with zlib when `gzip` is set.
inline void write_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes,
                        bool gzip = false) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr) << "cannot write " << path;
    const int written =
        bytes.empty() ? 0 : gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    EXPECT_EQ(written, static_cast<int>(bytes.size())) << path;
    EXPECT_EQ(gzclose(f), Z_OK) << path;
    return;
  }
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  EXPECT_TRUE(out.good()) << "cannot write " << path;
}

// The bytes of an IDX file of unsigned bytes (element type 0x08) with dimensions `dims`.
inline std::vector<uint8_t> idx_ubyte_file(const std::vector<uint32_t>& dims,
                                           const std::vector<uint8_t>& values) {
  std::vector<uint8_t> bytes{0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<uint8_t>(d >> shift));
  }
  bytes.insert(bytes.end(), values.begin(), values.end());
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Generated Fashion-MNIST

struct FashionSpec {
  int64_t train = 600;
  int64_t test = 200;
  bool gzip = true;   // `.gz` files; otherwise the plain names, which the reader also takes
  uint32_t seed = 1;  // of the pixel noise
  // Every image the same (of class 0): every token of a batch is routed alike.
  bool identical = false;
};

// Images [n][28 * 28] and labels [n] of 10 classes that a small model tells apart within an
// epoch or two: class c lights a horizontal band of rows (2c + 4, 2c + 5) and a vertical band
// of columns (22 - 2c, 23 - 2c). Band pixels (95..254) overlap the background noise (0..159),
// so no single pixel decides the class and the loss falls over a dozen steps, not in one.
// Labels cycle through the classes, so every class is equally present in even a small slice.
inline void fashion_images(int64_t n, uint32_t seed, bool identical, std::vector<uint8_t>& images,
                           std::vector<uint8_t>& labels) {
  constexpr int kSide = 28;
  std::mt19937 rng(seed);  // mt19937's sequence is fixed by the standard: the same data everywhere
  images.assign(static_cast<size_t>(n) * kSide * kSide, 0);
  labels.assign(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) {
    const int c = identical ? 0 : static_cast<int>(i % 10);
    labels[static_cast<size_t>(i)] = static_cast<uint8_t>(c);
    uint8_t* img = images.data() + i * kSide * kSide;
    for (int y = 0; y < kSide; ++y) {
      for (int x = 0; x < kSide; ++x) {
        const bool row_band = y == 2 * c + 4 || y == 2 * c + 5;
        const bool col_band = x == kSide - 2 * c - 5 || x == kSide - 2 * c - 6;
        const uint32_t noise = identical ? 0 : rng() % 160;
        img[y * kSide + x] = static_cast<uint8_t>((row_band || col_band) ? 95 + noise : noise);
      }
    }
  }
}

// Writes `train-images-idx3-ubyte`, `train-labels-idx1-ubyte` and the two `t10k-` files
// (with `.gz` when spec.gzip) of generated Fashion-MNIST into `dir`, which must exist.
inline void write_fashion_mnist(const std::filesystem::path& dir, const FashionSpec& spec = {}) {
  const std::string suffix = spec.gzip ? ".gz" : "";
  const struct {
    const char* prefix;
    int64_t n;
    uint32_t seed;
  } splits[] = {{"train", spec.train, spec.seed}, {"t10k", spec.test, spec.seed + 1000}};
  for (const auto& split : splits) {
    std::vector<uint8_t> images, labels;
    fashion_images(split.n, split.seed, spec.identical, images, labels);
    const auto n = static_cast<uint32_t>(split.n);
    write_bytes(dir / (std::string(split.prefix) + "-images-idx3-ubyte" + suffix),
                idx_ubyte_file({n, 28, 28}, images), spec.gzip);
    write_bytes(dir / (std::string(split.prefix) + "-labels-idx1-ubyte" + suffix),
                idx_ubyte_file({n}, labels), spec.gzip);
  }
}

}  // namespace mixgrad::testing
