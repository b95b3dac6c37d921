#pragma once
// Paths that name something other than a regular file (FIFOs, devices), for the tests that every
// file reader refuses them with an Error instead of blocking or reading an endless stream.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <string>

#include "core/error.h"

namespace mixgrad::testing {

// A device that reads as an endless stream of zero bytes.
inline constexpr const char* kEndlessDevice = "/dev/zero";

// Creates a FIFO (named pipe) at `path` that no writer ever opens.
inline void make_fifo(const std::string& path) {
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0) << "cannot create the FIFO " << path;
}

// What calling `read` throws: the mixgrad::Error's message, or a description of anything else.
inline std::string error_of(const std::function<void()>& read) {
  try {
    read();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not a mixgrad::Error: ") + e.what();
  }
  return "no exception";
}

// error_of(read) for a reader given the FIFO at `fifo`. A reader that waits for a writer instead
// of refusing the FIFO is released by opening and closing the write end, so that the test
// fails instead of hanging forever.
inline std::string error_reading_fifo(const std::string& fifo, std::function<void()> read) {
  std::future<std::string> message = std::async(std::launch::async, [&] { return error_of(read); });
  if (message.wait_for(std::chrono::seconds(30)) == std::future_status::timeout) {
    ADD_FAILURE() << "the reader blocked waiting for a writer on " << fifo;
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
  }
  return message.get();
}

}  // namespace mixgrad::testing
