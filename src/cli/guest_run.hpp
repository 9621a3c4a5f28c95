// `vm run`'s work on one node: a command in each of the node's VMs of the set, at once, through
// their qemu-guest-agents (no network). QGA's guest-exec returns a command's output only once it
// has ended, so the command's output goes to two files in the guest instead, which the agent
// reads while the command runs (guest-file-read): output arrives line by line as it is
// written. The files are made by a wrapper shell under an unguessable name with noclobber (the
// agent runs as root; /tmp is everyone's), unlinked as soon as the agent holds them open, so
// nothing is left in the guest however the command or vm ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "job_files.hpp"

namespace slurmvm::cli {

struct GuestCommand {
  std::vector<std::string> argv;      // the program and its arguments
  std::vector<std::string> env;       // VAR=VALUE, added to the agent's environment
  std::optional<std::string> user;    // run as this guest user (setpriv, else su)
  std::optional<std::string> cwd;     // in this guest directory
  std::optional<std::string> input;   // its standard input (else /dev/null)
  std::chrono::seconds timeout{std::chrono::hours(24)};
};

// What the VMs' commands produce, as it comes.
class RunSink {
 public:
  virtual ~RunSink() = default;
  // One line (without its newline) the command in VM `rank` wrote to stdout or stderr; a last
  // line without a newline comes as a line too.
  virtual void line(std::uint32_t rank, bool is_stderr, std::string_view text) = 0;
  // The command ended with `status` (128+N for signal N), or could not run (`error` says why,
  // `status` is vm's exit code for it: 5, 6 for a timeout).
  virtual void ended(std::uint32_t rank, int status, std::string_view error) = 0;
};

// Runs the command in every VM of `vms` (all on this node) at once and reports to `sink`;
// returns when all have ended. SIGINT, SIGTERM, SIGHUP and SIGUSR1 stop the commands: SIGTERM
// to each command's process group in the guests, SIGKILL 5 s later.
void run_in_guests(const std::vector<VmFile>& vms, const GuestCommand& command, RunSink& sink);

// The wrapper's text (pure, for tests): `sh -c WRAPPER vm-run BASE CWD USER -- ARGV...`.
const char* guest_run_wrapper();

// Splits `chunk` (appended to `pending`) into complete lines for `emit`; what follows the last
// newline stays in `pending`. Pure.
template <typename Emit>
void split_lines(std::string& pending, std::string_view chunk, Emit&& emit) {
  pending.append(chunk);
  std::size_t start = 0;
  for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
    emit(std::string_view(pending).substr(start, nl - start));
  }
  pending.erase(0, start);
}

}  // namespace slurmvm::cli
