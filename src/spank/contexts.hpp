// What the plugin does in each SPANK context; plugin.cpp dispatches here on spank_context().
// docs/spank.md has the full table (process, user, failure effect).
//
//   local     (srun)            context_submit.cpp   check the definition, hand it to the prolog
//   allocator (sbatch, salloc)  context_submit.cpp   the same
//   remote    (slurmstepd)      context_remote.cpp   give the job's tasks SLURM_VM_TEMPLATE
//   slurmd                      -                    init only: plugstack.conf arguments
//   job_script                  -                    never loaded: the plugin defines no
//                                                    slurm_spank_job_prolog/epilog; root work
//                                                    belongs to vm-prolog/vm-epilog
#pragma once

#include "plugin_args.hpp"
#include "slurm_spank.hpp"

namespace slurmvm::spank {

// slurm_spank_init_post_opt in srun, sbatch and salloc, as the submitting user. `new_job`: false
// for an srun inside an existing allocation (nothing to check or hand on).
int submit_init_post_opt(spank_t sp, const PluginArgs& args, bool new_job);

// slurm_spank_init_post_opt in slurmstepd, as root, once per job step.
int remote_init_post_opt(spank_t sp);

}  // namespace slurmvm::spank
