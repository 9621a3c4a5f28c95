// OutputRelay: copies what a background child (the VMs' srun step) writes into a log file and,
// until muted, on to the user's terminal. `vm boot` mutes it when it stops the VMs itself, so
// that the step's expected teardown chatter (srun's "task N: Terminated", QEMU's "terminating
// on signal 15") stays in the job's step.log instead of looking like a failure; everything the
// step says while the VMs boot and run still reaches the user, and nothing is lost.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "unique_fd.hpp"

namespace slurmvm {

class OutputRelay {
 public:
  // Opens (appends to) `log` with mode 0600 and makes the pipe; `terminal_fd` is where unmuted
  // output goes (normally STDERR_FILENO; not owned). Throws Error if either fails.
  OutputRelay(const std::filesystem::path& log, int terminal_fd);
  OutputRelay(const OutputRelay&) = delete;
  OutputRelay& operator=(const OutputRelay&) = delete;
  // Waits up to one second for the writers to finish, then stops reading.
  ~OutputRelay();

  // The pipe's write end, for Command::output_fd. Call close_write_end() once the child is
  // started, so that end-of-file arrives when the child (and whatever inherited it) exits.
  int write_fd() const noexcept { return write_.get(); }
  void close_write_end() noexcept { write_.reset(); }

  // Starts the copying thread.
  void start();
  // From now on output goes to the log only.
  void mute() noexcept { muted_ = true; }
  // Waits up to `timeout` for end-of-file (every writer gone) and everything copied. Returns
  // whether it got there.
  bool drain(std::chrono::milliseconds timeout);

 private:
  void copy_loop();

  UniqueFd log_;
  UniqueFd read_;
  UniqueFd write_;
  int terminal_fd_;
  std::atomic<bool> muted_{false};
  std::atomic<bool> eof_{false};
  std::atomic<bool> abandon_{false};
  std::thread thread_;
};

}  // namespace slurmvm
