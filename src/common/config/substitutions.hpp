// pcocc's substitutions in configuration strings (paths, custom-args): %{env:VAR}, %{homedir},
// %{user}, and a leading `~`. Configuration keeps strings as written; they are expanded where
// they are used, for the user they are used for: a root helper expanding a job's paths must use
// the job owner's home, never its own. The job-dependent ones (%{clusterdir}, %{clusteruser},
// %{vm_rank}) are known only when a VM starts, so expansion here leaves them verbatim.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace slurmvm::config {

struct SubstitutionContext {
  std::string user;     // %{user}
  std::string homedir;  // %{homedir} and a leading `~`
  // %{env:VAR}; nullopt when VAR is unset.
  std::function<std::optional<std::string>(const std::string&)> getenv;

  // This process's user and environment (the CLI).
  static SubstitutionContext for_current_process();
};

// nullopt when every %{...} in `text` is well formed and known; otherwise why not, e.g.
// "unknown substitution %{home} (known: ...)".
std::optional<std::string> substitution_error(std::string_view text);

// Expands `text`. Throws Error(ErrorKind::config) for a malformed substitution or an unset
// environment variable.
std::string expand_substitutions(std::string_view text, const SubstitutionContext& context);

}  // namespace slurmvm::config
