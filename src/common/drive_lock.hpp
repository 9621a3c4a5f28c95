// mmp: cluster for persistent drives: the VMs of one job may share a drive, other jobs of the
// same user may not (pcocc keeps this lock in etcd, global/users/<u>/mmp/<path>). The lock is a
// file in the user's state directory on the shared home, ~/.local/state/slurm-vm/mmp/<escaped
// drive path>, holding the owning job's id (empty: free). It is read and written under flock(2),
// so two jobs racing for a free drive cannot both win. A lock whose job Slurm no longer runs is
// stale and taken over. `vm boot` empties its job's locks when the cluster stops.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace slurmvm {

// The lock file's name for `drive` (absolute): every byte outside [A-Za-z0-9._-] as %XX. Pure.
std::string drive_lock_name(std::string_view drive);

// Whether Slurm still runs (or will run) job `job_id`.
using JobAlive = std::function<bool(std::uint32_t job_id)>;
bool slurm_job_alive(std::uint32_t job_id);  // scontrol show job (forked only on a conflict)

// Takes or joins the lock of `drive` in `dir` for `job_id` and returns the lock file. Throws
// Error(ErrorKind::usage) naming the job that holds the drive.
std::filesystem::path lock_drive_for_job(const std::filesystem::path& dir, const std::string& drive,
                                         std::uint32_t job_id, const JobAlive& alive = slurm_job_alive);

// Empties `lock` if `job_id` holds it; true when it did.
bool release_drive_lock(const std::filesystem::path& lock, std::uint32_t job_id);

}  // namespace slurmvm
