// A VM that resumes from a checkpoint instead of booting (vm alloc -r DIR, checkpoint.hpp):
// vm-launch finds its record and files in DIR (SLURM_VM_RESTORE), reads both files whole to
// check them against checkpoint.json before QEMU sees a byte, checks that this job gives the VM
// what it had (CPUs, memory, accelerator, network identity), and hands QEMU the memory stream
// as a descriptor (-incoming fd:N) and a fresh overlay over the checkpointed disk layer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "checkpoint.hpp"
#include "cluster_def.hpp"
#include "unique_fd.hpp"

namespace slurmvm::launch {

struct RestoredVm {
  std::filesystem::path dir;  // the checkpoint
  CheckpointVm vm;            // this VM's record there
  std::uint32_t network_id = 0;  // the checkpointed cluster's
  UniqueFd memory;            // the migration stream, open read-only, inherited by QEMU
  // The layer the new overlay goes over; none for a VM without a disk image.
  std::optional<std::filesystem::path> disk;
};

// nullopt when `dir_env` (SLURM_VM_RESTORE) is unset or empty. Error(not_found) for a partial
// checkpoint, Error(config) for a damaged one or one of another cluster than `def`.
std::optional<RestoredVm> open_restore(const char* dir_env, const ClusterDef& def, std::uint32_t rank);

// What this job gives the VM against what it had. Pure. Error(config) saying what to change
// (-c, the memory, the node's accelerator, the network identity); returns the memory the VM
// gets: the checkpoint's, which must fit in `available_mib`.
// `saved_network_id`: the checkpoint's (0: it had no network); `network_id`: this job's.
std::uint64_t check_restore_fits(const CheckpointVm& vm, std::uint32_t saved_network_id, std::uint32_t vcpus, bool kvm,
                                 std::uint64_t available_mib, std::uint32_t network_id);

}  // namespace slurmvm::launch
