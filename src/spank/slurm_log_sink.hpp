// slurm-vm's log (log.hpp) inside Slurm processes: every message goes to Slurm's own log
// functions, so it lands where Slurm's messages land (the user's terminal in srun, sbatch and
// salloc; SlurmdLogFile in slurmd and slurmstepd) and obeys Slurm's verbosity (-v, SlurmdDebug).
#pragma once

namespace slurmvm::spank {

void install_slurm_log_sink();

}  // namespace slurmvm::spank
