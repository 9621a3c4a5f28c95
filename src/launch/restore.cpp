// Restoring a VM from a checkpoint (restore.hpp).
#include "launch/restore.hpp"

#include <fcntl.h>

#include <cerrno>

#include <fmt/format.h>

#include "error.hpp"
#include "log.hpp"

namespace slurmvm::launch {

namespace fs = std::filesystem;

std::optional<RestoredVm> open_restore(const char* dir_env, const ClusterDef& def, std::uint32_t rank) {
  if (dir_env == nullptr || *dir_env == '\0') return std::nullopt;
  RestoredVm r;
  r.dir = dir_env;
  if (!r.dir.is_absolute()) {
    throw Error(fmt::format("{}={}: the checkpoint directory must be absolute", kRestoreEnv, dir_env), ErrorKind::usage);
  }
  const Checkpoint ckpt = read_checkpoint(r.dir);
  if (ckpt.definition != def.to_string() || ckpt.vms.size() != def.vm_count()) {
    throw Error(fmt::format("checkpoint {} is of cluster {}, this job is {}", r.dir.string(), ckpt.definition,
                            def.to_string()),
                ErrorKind::config);
  }
  r.vm = ckpt.vms.at(rank);
  r.network_id = ckpt.network_id;
  // Whole, before QEMU reads a byte: a damaged stream could resume a guest with corrupt memory.
  if (r.vm.disk) {
    verify_checkpoint_file(r.dir, *r.vm.disk, true);
    r.disk = r.dir / r.vm.disk->name;
  }
  verify_checkpoint_file(r.dir, r.vm.memory, true);
  const fs::path memory = r.dir / r.vm.memory.name;
  // Not O_CLOEXEC: QEMU inherits it.
  r.memory = UniqueFd(::open(memory.c_str(), O_RDONLY | O_NOFOLLOW));
  if (!r.memory) throw Error::from_errno(fmt::format("cannot open {}", memory.string()), errno);
  log_info("vm{}: resuming from checkpoint {} (job {}, {})", rank, r.dir.string(), ckpt.job_id, ckpt.created);
  return r;
}

std::uint64_t check_restore_fits(const CheckpointVm& vm, std::uint32_t saved_network_id, std::uint32_t vcpus, bool kvm,
                                 std::uint64_t available_mib, std::uint32_t network_id) {
  const std::string name = fmt::format("vm{}", vm.rank);
  if (vm.vcpus != vcpus) {
    throw Error(fmt::format("{} was checkpointed with {} vCPUs and gets {} here: restore with as many CPUs per VM "
                            "(vm alloc -r without -c)",
                            name, vm.vcpus, vcpus),
                ErrorKind::config);
  }
  if (const std::string accel = kvm ? "kvm" : "tcg"; vm.accel != accel) {
    throw Error(fmt::format("{} was checkpointed under {} and this node runs {}: restore on nodes like the ones it "
                            "ran on",
                            name, vm.accel, accel),
                ErrorKind::config);
  }
  if (vm.memory_mib > available_mib) {
    throw Error(fmt::format("{} was checkpointed with {} MiB of memory and this job has room for {} MiB: ask for "
                            "more memory (--mem-per-cpu)",
                            name, vm.memory_mib, available_mib),
                ErrorKind::config);
  }
  // The guest's NICs keep the MACs and addresses it had: the job's network must be the same.
  if (saved_network_id != 0 && network_id != saved_network_id) {
    throw Error(fmt::format("{} had the addresses of network {} and this job's network is {}: the restore must be "
                            "submitted with vm alloc -r or vm batch -r, which ask for the checkpoint's",
                            name, saved_network_id, network_id),
                ErrorKind::config);
  }
  return vm.memory_mib;
}

}  // namespace slurmvm::launch
