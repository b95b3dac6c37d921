#pragma once
// Running a helper program (gnuplot, Graphviz dot) and waiting for it, without a shell: the
// arguments reach it as they are, whatever characters a path holds.
#include <string>
#include <vector>

namespace mixgrad::io {

struct ProgramResult {
  int start_error = 0;     // errno-style reason it could not start (e.g. ENOENT), 0 if it ran
  bool succeeded = false;  // it ran and exited with status 0
  std::string errors;      // what it wrote to stderr
};

// Runs argv[0] (looked up on PATH) with the other arguments, its stdout discarded and its stderr
// collected, and waits for it. Throws Error(op, ...) only if the wait itself fails.
ProgramResult run_program(const std::vector<std::string>& argv, const std::string& op);

}  // namespace mixgrad::io
