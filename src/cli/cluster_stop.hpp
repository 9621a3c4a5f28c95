// Stopping a virtual cluster at the end of `vm boot`: VMs with persistent drives powered down
// first, then the srun step's tasks signalled (SIGTERM: each QEMU closes its disks), then the
// VMs' cluster-drive locks released.
#pragma once

#include <cstdint>

#include "job_files.hpp"
#include "output_relay.hpp"
#include "subprocess.hpp"

namespace slurmvm::cli {

// Stops the VMs of `step` (`count` VMs of the job in `dir`). Their teardown messages (srun's
// "task N: Terminated", QEMU's "terminating on signal 15") go to step.log only.
void stop_vms(const JobDir& dir, std::uint32_t count, ChildProcess& step, OutputRelay& output);

// Once the VMs are gone: their mmp: cluster drives are free for the user's other jobs.
void release_drive_locks(const JobDir& dir, std::uint32_t count);

}  // namespace slurmvm::cli
