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
  // The rest as in vm.json (vm_record.hpp, which says what each field means).
  std::string accel;
  bool no_reboot = false;
  nlohmann::json image;
  std::vector<std::vector<int>> vcpu_cpus;
  std::vector<int> emulator_cpus;  // emulator-cores; empty: the task's
  std::vector<int> numa_nodes;
  bool persistent_drives = false;
  std::vector<std::string> drive_locks;
};

// Pure: vm.json's content.
VmRecord vm_record(const VmInfo& info);
nlohmann::json vm_info_json(const VmInfo& info);

}  // namespace slurmvm::launch
