// Who this process runs as: the home directory that holds the user configuration and that
// %{homedir} names, and the login name %{user} names.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace slurmvm::config {

// Reads one environment variable; nullopt when unset. A parameter rather than ::getenv so that
// tests, and helpers that must not trust their environment, can supply their own.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The process environment.
std::optional<std::string> process_env(const std::string& name);

struct UserIdentity {
  std::string name;
  std::string home;
};

// HOME when set and non-empty (as a shell's `~`), else the password database entry of the real
// uid; the name from the password database, else USER or LOGNAME. Fields stay empty when
// nothing knows them (a uid without a passwd entry in a container).
UserIdentity current_identity(const EnvLookup& env = process_env);

}  // namespace slurmvm::config
