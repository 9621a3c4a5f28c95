// Where the CLI finds the programs it starts: its own binary (salloc runs `vm boot`) and the
// helpers in libexec (vm-launch runs on the compute nodes, so the path must be valid there:
// the installed libexec directory, or the build tree on a shared filesystem as in the sandbox).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace slurmvm::cli {

// Replaces this process with argv[0] (looked up in PATH: the user's Slurm and OpenSSH), as
// `vm alloc`, `vm batch` and `vm ssh` do so that the program's exit status and terminal are
// the command's. Returns only by throwing Error, `hint` saying what may be missing.
[[noreturn]] void exec_program(std::vector<std::string> argv, const std::string& hint);

// The running `vm` binary, from /proc/self/exe.
std::filesystem::path self_executable();

// A helper such as "vm-launch": $SLURM_VM_LIBEXECDIR/NAME when set, else the build tree next
// to this binary (src/cli/vm -> src/launch/NAME) when it exists, else the installed libexec.
std::filesystem::path helper_program(const std::string& name);

}  // namespace slurmvm::cli
