// What `vm boot` watches while its cluster runs, beside the step itself: the step's log (srun's
// words on how it ended), each VM's console log (a ready-marker, the last lines of a late or
// dead VM), and the terminal it hands to the user's script.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace slurmvm::cli {

// When `vm ckpt` stopped the VMs once their checkpoint was safe (the job directory's
// kCheckpointedMarker), says where the checkpoint is and returns true: not a failure.
bool report_checkpoint(const std::filesystem::path& job_dir, std::uint32_t job_id);

// The size of `file`, 0 when it cannot be read.
std::uintmax_t size_or_zero(const std::filesystem::path& file);

// The text of `file` from byte `offset` on, at most its last 4 MiB (srun's words about the step
// ending are at the end).
std::string read_file_from(const std::filesystem::path& file, std::uintmax_t offset);

// The last `lines` lines of a VM's console log, indented for a message; the guest's control
// characters (escape sequences) are shown escaped, never sent to the user's terminal.
std::string console_tail(const std::filesystem::path& log, std::size_t lines);

// Why vm-launch gave up on the VM in `vm_dir` before QEMU ran (its launch-error file,
// vm_record.hpp), made safe for a terminal; nullopt when it left no reason.
std::optional<std::string> launch_failure(const std::filesystem::path& vm_dir);

// While a script runs in its own process group, that group is the terminal's foreground (when
// stdin is our terminal and we hold it), so that it can read the terminal and Ctrl-C is its;
// the terminal comes back to us afterwards. As a shell does for a job (POSIX tcsetpgrp).
class TerminalHandover {
 public:
  explicit TerminalHandover(pid_t group);
  ~TerminalHandover();
  TerminalHandover(const TerminalHandover&) = delete;
  TerminalHandover& operator=(const TerminalHandover&) = delete;

 private:
  bool handed_ = false;
};

// Whether a VM's console log holds a marker yet, reading only what was appended since the last
// look (the log grows for as long as the VM runs).
class ConsoleWatch {
 public:
  ConsoleWatch() = default;
  // From `offset` on: what an earlier boot of the same VM in this allocation wrote to its log
  // (QEMU appends) does not count.
  explicit ConsoleWatch(std::uintmax_t offset) : offset_(offset) {}
  bool seen(const std::filesystem::path& log, const std::string& marker);

 private:
  std::uintmax_t offset_ = 0;
  std::string tail_;
  bool found_ = false;
};

}  // namespace slurmvm::cli
