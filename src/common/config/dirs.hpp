// Where configuration lives (docs/design.md §5): the system directory (/etc/slurm-vm, or
// SLURM_VM_SYSCONFDIR) and the user directory (${XDG_CONFIG_HOME:-~/.config}/slurm-vm, or
// SLURM_VM_USERCONFDIR), and which files of each are read.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

#include "config/identity.hpp"

namespace slurmvm::config {

struct ConfigDirs {
  std::filesystem::path system;
  // nullopt: no user configuration (root helpers, which must not read a user's files as root).
  // When the user has no slurm-vm directory but has pcocc's ($PCOCC_USER_CONF_DIR, else
  // ~/.pcocc), whose templates.yaml and repos.yaml are the same format, that one: a pcocc
  // user's templates keep working on the first day instead of vanishing without a word.
  std::optional<std::filesystem::path> user;
};

// For the CLI. Root helpers must not trust their environment: they build ConfigDirs themselves
// (system directory only). Empty variables count as unset, as XDG says for XDG_CONFIG_HOME, which
// is also ignored when relative. The pcocc fallback looks at the file system (one stat or two);
// an explicit SLURM_VM_USERCONFDIR is taken as is.
ConfigDirs config_dirs_from_env();
ConfigDirs config_dirs_from(const EnvLookup& env);

// The files read from a configuration directory.
namespace files {
inline constexpr const char* templates = "templates.yaml";
inline constexpr const char* templates_dir = "templates.d";
inline constexpr const char* resources = "resources.yaml";  // system only
inline constexpr const char* networks = "networks.yaml";    // system only
inline constexpr const char* repos = "repos.yaml";
inline constexpr const char* site = "slurm-vm.yaml";  // system only
inline constexpr const char* pcocc_batch = "batch.yaml";  // pcocc's site file: refused while slurm-vm.yaml is missing
}  // namespace files

// `templates.yaml`, then `templates.d/*.yaml` sorted by name (hidden files skipped), as paths
// whether or not they exist. Throws Error(ErrorKind::config) if templates.d cannot be listed.
std::vector<std::filesystem::path> template_files(const std::filesystem::path& dir);

}  // namespace slurmvm::config
