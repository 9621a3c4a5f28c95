// Where configuration lives (dirs.hpp).
#include "config/dirs.hpp"

#include <algorithm>
#include <system_error>

#include "error.hpp"

namespace slurmvm::config {
namespace {

std::optional<std::string> non_empty(const EnvLookup& env, const char* name) {
  auto value = env(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

}  // namespace

ConfigDirs config_dirs_from(const EnvLookup& env) {
  ConfigDirs dirs;
  dirs.system = non_empty(env, "SLURM_VM_SYSCONFDIR").value_or(SLURM_VM_DEFAULT_SYSCONFDIR);
  if (auto user = non_empty(env, "SLURM_VM_USERCONFDIR")) {
    dirs.user = *user;  // taken as is, even when it does not exist
    return dirs;
  }
  // The home directory only when needed (it may take a password database lookup).
  std::optional<std::string> home_cache;
  auto home = [&]() -> const std::string& {
    if (!home_cache) home_cache = current_identity(env).home;
    return *home_cache;
  };
  if (auto xdg = non_empty(env, "XDG_CONFIG_HOME"); xdg && xdg->front() == '/') {
    dirs.user = std::filesystem::path(*xdg) / "slurm-vm";
  } else if (!home().empty()) {
    dirs.user = std::filesystem::path(home()) / ".config" / "slurm-vm";
  }
  // No slurm-vm directory: pcocc's, when the user has one (same file formats).
  std::error_code ec;
  if (dirs.user && !std::filesystem::exists(*dirs.user, ec) && !ec) {
    std::filesystem::path pcocc;
    if (auto p = non_empty(env, "PCOCC_USER_CONF_DIR"); p && p->front() == '/') {
      pcocc = *p;
    } else if (!home().empty()) {
      pcocc = std::filesystem::path(home()) / ".pcocc";
    }
    if (!pcocc.empty() && std::filesystem::is_directory(pcocc, ec)) dirs.user = pcocc;
  }
  return dirs;
}

ConfigDirs config_dirs_from_env() { return config_dirs_from(process_env); }

std::vector<std::filesystem::path> template_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out{dir / files::templates};
  const std::filesystem::path d = dir / files::templates_dir;
  std::error_code ec;
  std::filesystem::directory_iterator it(d, ec);
  if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory) return out;
  if (ec) throw Error("cannot list " + d.string(), ErrorKind::config, ec.value());
  std::vector<std::filesystem::path> found;
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::filesystem::path& path = it->path();
    if (path.filename().string().front() == '.' || path.extension() != ".yaml") continue;
    found.push_back(path);
  }
  if (ec) throw Error("cannot list " + d.string(), ErrorKind::config, ec.value());
  std::sort(found.begin(), found.end());
  out.insert(out.end(), found.begin(), found.end());
  return out;
}

}  // namespace slurmvm::config
