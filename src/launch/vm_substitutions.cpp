// Substitutions for one VM (vm_substitutions.hpp).
#include "launch/vm_substitutions.hpp"

#include <array>
#include <utility>

namespace slurmvm::launch {

std::string VmSubstitutions::expand(std::string_view text) const {
  // The user-level expansion checks the whole string and leaves the job's names verbatim.
  const std::string partly = config::expand_substitutions(text, user);
  const std::array<std::pair<std::string_view, std::string>, 3> job = {{
      {"%{clusterdir}", clusterdir},
      {"%{clusteruser}", clusteruser},
      {"%{vm_rank}", std::to_string(vm_rank)},
  }};
  std::string out;
  std::size_t i = 0;
  while (i < partly.size()) {
    bool replaced = false;
    if (partly[i] == '%') {
      for (const auto& [name, value] : job) {
        if (std::string_view(partly).substr(i).starts_with(name)) {
          out += value;
          i += name.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += partly[i++];
  }
  return out;
}

}  // namespace slurmvm::launch
