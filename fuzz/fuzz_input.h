#pragma once
// What every fuzz target shares. The readers take paths, so the input bytes go to a file first;
// mixgrad::Error is the expected answer to bad input, and anything else (a crash, another
// exception, a sanitizer report, a broken invariant) is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace mixgrad::fuzz {

// Writes the bytes to `name` in this process's scratch directory (made on first use, removed
// at exit: libFuzzer runs millions of inputs, and parallel jobs must not share files) and
// returns its path.
std::string write_input(const void* data, std::size_t size, const std::string& name = "input");

// The path `name` in the scratch directory, for files a target writes itself.
std::string scratch_path(const std::string& name);

// The bytes of a file (for comparing what a writer produced).
std::string read_bytes(const std::string& path);

// Prints `what` and aborts: libFuzzer (or the replay driver) reports it with the input.
[[noreturn]] void finding(const std::string& what);

// Runs `read`; returns false when it refuses the input with an Error, true when it succeeds.
// Every other exception escapes, and libFuzzer reports it as a crash.
template <class Read>
bool accepts(Read&& read) {
  try {
    read();
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace mixgrad::fuzz

// An invariant of accepted input; a violation is a finding.
#define FUZZ_CHECK(cond, what)                                             \
  do {                                                                     \
    if (!(cond)) ::mixgrad::fuzz::finding(std::string(#cond ": ") + what); \
  } while (0)
