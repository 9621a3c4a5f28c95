// %{...} substitutions in a template's strings for one VM: the user's (%{homedir}, %{user},
// %{env:VAR}, ~, from config/substitutions.hpp) and the job's, known only now:
// %{clusterdir} (the job directory), %{clusteruser} (the job's user), %{vm_rank}.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "config/substitutions.hpp"

namespace slurmvm::launch {

struct VmSubstitutions {
  config::SubstitutionContext user;
  std::string clusterdir;
  std::string clusteruser;
  std::uint32_t vm_rank = 0;

  // Throws Error(ErrorKind::config) for malformed or unknown substitutions.
  std::string expand(std::string_view text) const;
};

}  // namespace slurmvm::launch
