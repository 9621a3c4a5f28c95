// Who this process runs as (identity.hpp).
#include "config/identity.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace slurmvm::config {

std::optional<std::string> process_env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

UserIdentity current_identity(const EnvLookup& env) {
  UserIdentity id;
  // getpwuid_r, not getpwuid: the CLI is single-threaded, but this library is also linked into
  // multi-threaded helpers.
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd entry{};
  passwd* found = nullptr;
  if (::getpwuid_r(::getuid(), &entry, buffer.data(), buffer.size(), &found) == 0 &&
      found != nullptr) {
    id.name = found->pw_name;
    id.home = found->pw_dir;
  }
  if (auto home = env("HOME"); home && !home->empty()) id.home = *home;
  if (id.name.empty()) {
    for (const char* var : {"USER", "LOGNAME"}) {
      if (auto name = env(var); name && !name->empty()) {
        id.name = *name;
        break;
      }
    }
  }
  return id;
}

}  // namespace slurmvm::config
