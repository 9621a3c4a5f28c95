// The administrator's settings: the arguments after the path on the plugin's plugstack.conf
// line, e.g.  required /usr/lib/x86_64-linux-gnu/slurm-wlm/spank_vm.so sysconfdir=/etc/slurm-vm
// Parsed strictly, as pyxis does: a misspelt key is an error, never silently ignored.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string_view>

namespace slurmvm::spank {

struct PluginArgs {
  // sysconfdir=PATH: the system configuration against which submissions are checked when the
  // submitting user's environment does not set SLURM_VM_SYSCONFDIR. Unset: the build's default.
  std::optional<std::filesystem::path> sysconfdir;
};

// Throws Error(ErrorKind::config) naming the first bad argument and the accepted keys: an
// argument that is not KEY=VALUE, an unknown or repeated key, an empty or relative path.
PluginArgs parse_plugin_args(std::span<const std::string_view> args);

}  // namespace slurmvm::spank
