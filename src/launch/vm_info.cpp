// vm.json (vm_info.hpp).
#include "launch/vm_info.hpp"

#include <fmt/format.h>

namespace slurmvm::launch {

VmRecord vm_record(const VmInfo& info) {
  VmRecord vm;
  vm.rank = info.rank;
  vm.name = fmt::format("vm{}", info.rank);
  vm.job_id = info.job_id;
  vm.step_id = info.step_id;
  vm.node = info.node;
  vm.pid = info.pid;
  if (info.network) {
    vm.tap = info.network->tap;
    vm.mac = info.network->mac;
    vm.ip = info.network->ip;
    vm.ssh_port = info.network->ssh_port;
    vm.network_id = info.network->network_id;
  }
  vm.hostname = info.hostname;
  vm.host_key_pub = info.host_key_pub;
  vm.qmp = info.paths.qmp;
  vm.console = info.paths.console;
  vm.console_log = info.paths.console_log;
  vm.agent = info.paths.agent;
  vm.vcpus = info.vcpus;
  vm.memory_mib = info.memory_mib;
  vm.accel = info.accel;
  vm.no_reboot = info.no_reboot;
  vm.image = info.image;
  vm.vcpu_cpus = info.vcpu_cpus;
  vm.emulator_cpus = info.emulator_cpus;
  vm.numa_nodes = info.numa_nodes;
  vm.persistent_drives = info.persistent_drives;
  vm.drive_locks.assign(info.drive_locks.begin(), info.drive_locks.end());
  return vm;
}

nlohmann::json vm_info_json(const VmInfo& info) { return to_json(vm_record(info)); }

}  // namespace slurmvm::launch
