// VM sets as pcocc users write them: `vm3`, `vm[0-3,7]`, `vm0,vm5`, `vm[0-1],vm[4-5]` (Slurm's
// hostlist syntax, so any range form Slurm accepts for node names works here). Pure.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace slurmvm::cli {

// The ranks the set names, ascending, each once. Throws Error(usage) for a set that is not
// made of vmN names and Error(not_found) for a VM past `vm_count` (the cluster's size).
std::vector<std::uint32_t> parse_vm_set(std::string_view text, std::uint32_t vm_count);

// The shortest set text for ranks (ascending): "vm3", "vm[0-3,7]".
std::string format_vm_set(const std::vector<std::uint32_t>& ranks);

}  // namespace slurmvm::cli
