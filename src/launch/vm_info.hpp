// What vm-launch knows about the VM it starts, and the record of it the CLI reads (vm.json,
// vm_record.hpp), written into the VM's directory just before QEMU starts.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "launch/job_dir.hpp"
#include "launch/network_map.hpp"
#include "vm_record.hpp"

namespace slurmvm::launch {

struct VmInfo {
  std::uint32_t job_id = 0;
  std::uint32_t rank = 0;
  std::optional<std::uint32_t> step_id;
  std::string node;
  long pid = 0;  // QEMU's, which is vm-launch's: it execs QEMU
  std::optional<VmNetwork> network;
  std::string hostname;
  std::string host_key_pub;
  VmPaths paths;
  std::uint32_t vcpus = 0;
  std::uint64_t memory_mib = 0;
  std::string accel;  // "kvm" or "tcg"
  // The template's custom-args hold -no-reboot: a reset must ask QEMU to reset, not exit
  // (`vm reset` sets QMP's reboot action for the moment).
  bool no_reboot = false;
  // What the disk overlay sits on: {"file"} or {"repo", "repo_path", "name", "revision",
  // "file"}; null without an image. `vm save` adds its layer to exactly this revision.
  nlohmann::json image;
  // Where the VM runs: each vCPU's CPUs (empty: not pinned), the emulator threads' CPUs
  // (emulator-cores; empty: the task's), the NUMA nodes its memory is bound to (empty: unbound).
  std::vector<std::vector<int>> vcpu_cpus;
  std::vector<int> emulator_cpus;
  std::vector<int> numa_nodes;
  // The VM writes files that outlive it: `vm boot` powers it down before stopping the step.
  bool persistent_drives = false;
  // Its mmp: cluster drives' lock files (drive_lock.hpp), emptied by `vm boot` at the end.
  std::vector<std::string> drive_locks;
};

// Pure: vm.json's content.
VmRecord vm_record(const VmInfo& info);
nlohmann::json vm_info_json(const VmInfo& info);

}  // namespace slurmvm::launch
