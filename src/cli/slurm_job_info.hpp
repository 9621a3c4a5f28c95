// What `vm boot` learns about its allocation from Slurm: the variables Slurm sets in it, and the
// memory the job got when Slurm did not export it (a partition's or the site's default).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace slurmvm::cli {

// The variable's value; Error(usage) saying `vm boot` runs inside an allocation when unset.
std::string required_env(const char* name);

// Pure: from `scontrol show job --oneliner` text, the memory variable vm-launch sizes VMs by:
// "SLURM_MEM_PER_CPU=<MiB>" or "SLURM_MEM_PER_NODE=<MiB>" (MinMemoryCPU/MinMemoryNode; for
// --mem=0, the job's TRES mem divided by its nodes), nullopt when the text says neither.
std::optional<std::string> memory_env_from_scontrol(std::string_view oneliner);

// That variable for the current job, when Slurm did not export SLURM_MEM_PER_CPU or
// SLURM_MEM_PER_NODE (one scontrol call, 20 s deadline); nullopt when it did or cannot tell.
std::optional<std::string> job_memory_env();

}  // namespace slurmvm::cli
