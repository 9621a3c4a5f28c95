// Which QEMU (and qemu-img) runs: the template's qemu-bin when absolute, else the name looked up
// in a fixed list of system directories. PATH is not consulted: what runs the VM should not
// depend on how the user's shell was set up when the job was submitted.
#pragma once

#include <filesystem>
#include <functional>
#include <string_view>

namespace slurmvm::launch {

inline constexpr std::string_view kBinaryDirs[] = {"/usr/bin", "/usr/local/bin"};

using IsExecutable = std::function<bool(const std::filesystem::path&)>;
bool is_executable_file(const std::filesystem::path& path);

// `name` in kBinaryDirs. Throws Error(ErrorKind::not_found) naming the directories searched.
std::filesystem::path find_in_fixed_dirs(std::string_view name,
                                         const IsExecutable& executable = is_executable_file);

// qemu-bin as written in the template (after %{...} expansion): an absolute path is used as is
// (and must be executable), a bare name is looked up; a relative path is an error.
std::filesystem::path resolve_qemu_binary(std::string_view qemu_bin,
                                          const IsExecutable& executable = is_executable_file);

}  // namespace slurmvm::launch
