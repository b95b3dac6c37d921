#include "io/run_program.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

extern char** environ;

namespace mixgrad::io {

ProgramResult run_program(const std::vector<std::string>& args, const std::string& op) {
  MG_CHECK(!args.empty(), op, "no program to run");
  std::vector<std::string> owned = args;
  std::vector<char*> argv;
  for (std::string& a : owned) argv.push_back(a.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  MG_CHECK(pipe(pipe_fds) == 0, op, "cannot create a pipe: ", std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
  pid_t pid = 0;
  ProgramResult result;
  result.start_error = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (result.start_error == 0) {
    // Read stderr to its end before waiting, so a chatty program never blocks on a full pipe.
    char buffer[4096];
    for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof buffer)) != 0;) {
      if (n > 0)
        result.errors.append(buffer, static_cast<size_t>(n));
      else if (errno != EINTR)
        break;
    }
  }
  close(pipe_fds[0]);
  if (result.start_error != 0) return result;
  int status = 0;
  pid_t waited = 0;
  while ((waited = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  MG_CHECK(waited == pid, op, "lost track of ", args[0], ": ", std::strerror(errno));
  result.succeeded = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return result;
}

}  // namespace mixgrad::io
