// The one way slurm-vm runs another program: posix_spawn with an argv (never a shell), an
// environment built from an allow-list, every fd but stdin/stdout/stderr closed, a deadline
// after which the child is killed, and stdout/stderr captured (or passed through).
#pragma once

#include <sys/types.h>

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
  // Data written to the child's stdin, then closed. Without it stdin is /dev/null, unless
  // inherit_stdin (an interactive program started by the CLI).
  std::optional<std::string> stdin_data;
  bool inherit_stdin = false;
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  // Time between SIGTERM and SIGKILL once the deadline has passed.
  std::chrono::milliseconds kill_grace{std::chrono::milliseconds(500)};
  bool capture_stdout = true;  // false: inherit the caller's stdout
  bool capture_stderr = true;  // false: inherit the caller's stderr
  bool search_path = false;    // resolve argv[0] through PATH (the CLI only)
  // Pass the caller's whole environment (plus env_set) instead of the allow-list: only for the
  // CLI starting the user's own programs (srun, the user's shell), never in root helpers.
  bool inherit_env = false;
  // Own process group, so that a timeout kills what the child started. A child that must use
  // the terminal (an interactive shell) has to stay in the caller's group.
  bool new_process_group = true;
  // spawn() only: when >= 0, the child's stdout and stderr both go to this fd (a pipe the
  // caller reads, e.g. to keep a step's teardown messages off the terminal). The caller keeps
  // ownership; the child gets a copy.
  int output_fd = -1;
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

// A child left running in the background (an srun step): started by spawn(), which never
// captures output (the child writes to the caller's stdout and stderr). The destructor kills
// and reaps a child still running, so no process outlives its owner by accident.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();

  pid_t pid() const noexcept { return pid_; }
  bool running() const noexcept { return pid_ > 0 && !status_; }
  // Reaps the child if it has ended; returns its result then, nullopt while it runs.
  std::optional<RunResult> poll();
  // Waits up to `timeout` for the child to end.
  std::optional<RunResult> wait_for(std::chrono::milliseconds timeout);
  // Sends `sig` (to the child's process group when it has its own), waits up to `grace`,
  // then SIGKILLs and reaps it.
  RunResult stop(int sig, std::chrono::milliseconds grace);

 private:
  friend ChildProcess spawn(const Command& cmd);
  pid_t pid_ = -1;
  bool own_group_ = false;
  std::optional<RunResult> status_;
};

// Starts the command and returns at once; `timeout` and capture settings are ignored (see
// output_fd).
ChildProcess spawn(const Command& cmd);

// Renders argv for messages, quoting words that need it.
std::string format_argv(const std::vector<std::string>& argv);

}  // namespace slurmvm
