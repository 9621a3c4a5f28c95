// Names and numbers derived from a Slurm job id, computed identically on every node and by the
// CLI so that nothing needs to be looked up: the job's virtual network id (also its GRE key),
// its TAP device names and its directories.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "addressing.hpp"

namespace slurmvm {

// The job's network id, 1..plan.max_network_id(). Jobs whose ids differ by a multiple of
// max_network_id() share an id; with the default plan that takes 2047 jobs running at once
// with ids that collide, and the prolog refuses to start a job whose network id is already in
// use on its node (docs/addressing.md).
std::uint32_t network_id_for_job(std::uint32_t job_id, const AddressPlan& plan);

// TAP device of NIC `nic` of VM `rank` of the job, in hex: svm<job>.<rank> for the first NIC
// (at most svm<8 hex>.<3 hex>: 15 characters, IFNAMSIZ - 1) and svm<job>.<nic><rank, 3 digits>
// for the others ("svm2a.1003": job 42, vm3, eth1). Slurm's job ids stay below 0x3ff0000
// (slurm.conf MaxJobId's upper bound), so the second form fits too. Throws Error(internal) for
// a rank past AddressPlan::kMaxRank, a NIC past kMaxNicsPerVm or a name that would not fit.
inline constexpr std::uint32_t kMaxNicsPerVm = 15;
std::string tap_name(std::uint32_t job_id, std::uint32_t rank, std::uint32_t nic = 0);

// The job's private directory for a user: $XDG_RUNTIME-independent, in the shared home so that
// the login node sees what the compute nodes write: ~/.local/state/slurm-vm/job-<id>.
std::filesystem::path user_job_dir(const std::filesystem::path& home, std::uint32_t job_id);

}  // namespace slurmvm
