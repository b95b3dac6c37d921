// run_program: exit status, collected stderr, and a program that does not exist.
#include "io/run_program.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace mixgrad {
namespace {

TEST(RunProgram, ReportsSuccessAndFailureWithStderr) {
  const io::ProgramResult ok = io::run_program({"sh", "-c", "echo out; echo err >&2"}, "test");
  EXPECT_EQ(ok.start_error, 0);
  EXPECT_TRUE(ok.succeeded);
  EXPECT_EQ(ok.errors, "err\n");  // stdout is discarded

  const io::ProgramResult failed = io::run_program({"sh", "-c", "echo why >&2; exit 3"}, "test");
  EXPECT_EQ(failed.start_error, 0);
  EXPECT_FALSE(failed.succeeded);
  EXPECT_EQ(failed.errors, "why\n");
}

TEST(RunProgram, AMissingProgramIsAStartError) {
  const io::ProgramResult r = io::run_program({"mixgrad-no-such-program-xyz"}, "test");
  EXPECT_EQ(r.start_error, ENOENT);
  EXPECT_FALSE(r.succeeded);
}

}  // namespace
}  // namespace mixgrad
