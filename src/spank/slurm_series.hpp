// The Slurm release the plugin was built for, against the one it is loaded into. Slurm refuses a
// SPANK plugin of another release series (major.minor) when it loads it (plugin.c,
// _verify_syms: "Incompatible Slurm plugin ... version"), so slurmd does not start and every
// srun, sbatch and salloc fails, with a message that names neither the cause nor the fix;
// series_check.cpp says both first. A Slurm process tells its release by slurm_api_version(),
// whose top byte is the libslurm API (the SONAME: 38 for Slurm 22.05), one per release series.
// Pure: the values come in as numbers.
#pragma once

#include <optional>
#include <string>

namespace slurmvm::spank {

// "22.05" for SLURM_VERSION_NUMBER 0x160508.
std::string slurm_series(unsigned long version_number);

// The message to print when `running_api_version` (slurm_api_version() of the host process) is
// another libslurm API than `built_api` (the SONAME number of the libslurm built against, whose
// headers said `built_version`); nullopt when they match.
std::optional<std::string> series_mismatch(unsigned long built_version, unsigned built_api,
                                           unsigned long running_api_version);

}  // namespace slurmvm::spank
