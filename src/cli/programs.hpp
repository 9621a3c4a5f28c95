// Where the CLI finds the programs it starts: its own binary (salloc runs `vm boot`) and the
// helpers in libexec (vm-launch runs on the compute nodes, so the path must be valid there:
// the installed libexec directory, or the build tree on a shared filesystem as in the sandbox).
#pragma once

#include <filesystem>
#include <string>

namespace slurmvm::cli {

// The running `vm` binary, from /proc/self/exe.
std::filesystem::path self_executable();

// A helper such as "vm-launch": $SLURM_VM_LIBEXECDIR/NAME when set, else the build tree next
// to this binary (src/cli/vm -> src/launch/NAME) when it exists, else the installed libexec.
std::filesystem::path helper_program(const std::string& name);

}  // namespace slurmvm::cli
