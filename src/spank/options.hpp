// --vm-template=DEF: its registration and the value Slurm's option callback stored.
#pragma once

#include <optional>
#include <string>

#include "slurm_spank.hpp"

namespace slurmvm::spank {

// Registers --vm-template with spank_option_register. Must run in slurm_spank_init in every
// context: the allocator (sbatch, salloc) only knows registered options, not a spank_options
// table, and slurmstepd matches the forwarded value against the registered name.
void register_options(spank_t sp);

// The value of --vm-template in this process, if the option was given (on the command line,
// in an #SBATCH line, or forwarded by Slurm to slurmstepd). Final only from init_post_opt on.
const std::optional<std::string>& option_value() noexcept;

// Forgets the value. Slurm loads the plugin afresh in each process; the unit tests, which play
// several processes' parts in one, start each part clean.
void clear_option_value() noexcept;

}  // namespace slurmvm::spank
