// The one way slurm-vm runs another program: posix_spawn with an argv (never a shell), an
// environment built from an allow-list, every fd but stdin/stdout/stderr closed, a deadline
// after which the child is killed, and stdout/stderr captured (or passed through).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace slurmvm {

struct Command {
  // argv[0] must be an absolute path when `search_path` is false (privileged helpers).
  std::vector<std::string> argv;
  // Variables copied from the caller's environment when set there (e.g. "SLURM_CONF").
  std::vector<std::string> env_allow;
  // Variables set explicitly ("NAME=value"); they win over allowed ones.
  std::vector<std::string> env_set;
  // Data written to the child's stdin, then closed. Without it stdin is /dev/null.
  std::optional<std::string> stdin_data;
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  // Time between SIGTERM and SIGKILL once the deadline has passed.
  std::chrono::milliseconds kill_grace{std::chrono::milliseconds(500)};
  bool capture_stdout = true;  // false: inherit the caller's stdout
  bool capture_stderr = true;  // false: inherit the caller's stderr
  bool search_path = false;    // resolve argv[0] through PATH (the CLI only)
};

struct RunResult {
  int exit_code = -1;    // valid when !signaled
  int signal = 0;        // the signal that ended the child, 0 if it exited
  bool timed_out = false;
  std::string out;
  std::string err;

  bool ok() const noexcept { return !timed_out && signal == 0 && exit_code == 0; }
};

// Runs the command to completion (or its deadline). Throws Error only when the child cannot
// be started; a child that fails is reported in the result.
RunResult run(const Command& cmd);

// Like run(), but a non-zero exit, a signal or a timeout throw an Error (ErrorKind::system or
// ErrorKind::timeout) that quotes the command and the tail of its stderr.
RunResult run_checked(const Command& cmd);

// Renders argv for messages, quoting words that need it.
std::string format_argv(const std::vector<std::string>& argv);

}  // namespace slurmvm
