// The fixed places and environment of slurm-vm on a compute node, shared by the root helpers
// (which own them) and vm-launch (which reads what they wrote).
#pragma once

namespace slurmvm {

// The node's run directory: jobs/<id>/vms.json for vm-launch, the helpers' ledger, state and
// lock. SLURM_VM_RUNDIR overrides it (tests, an admin's wrapper).
inline constexpr const char* kDefaultRunDir = "/run/slurm-vm";

// The PATH a root helper's children get (slurmd gives the prolog none); their argv[0] is an
// absolute path anyway.
inline constexpr const char* kChildPath = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";

}  // namespace slurmvm
