// Slurm's compressed list syntaxes, parsed as text (no libslurm in the helpers' path):
// host lists such as "node[1-3,7],login" and per-node counts such as "2(x3),1"
// (SLURM_JOB_CPUS_PER_NODE). Syntax: slurm.conf(5) "NodeName", sbatch(1) "OUTPUT ENVIRONMENT
// VARIABLES".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace slurmvm {

// "node[1-3,07],login" -> node1 node2 node3 node07 login. Zero padding is kept, as Slurm does.
// Throws Error(ErrorKind::config) on malformed text.
std::vector<std::string> expand_hostlist(std::string_view text);

// "2(x3),1" -> 2 2 2 1. Throws Error(ErrorKind::config) on malformed text.
std::vector<std::uint32_t> expand_counts(std::string_view text);

}  // namespace slurmvm
