// vm.json (vm_info.hpp).
#include "launch/vm_info.hpp"

#include <fmt/format.h>

namespace slurmvm::launch {

nlohmann::json vm_info_json(const VmInfo& info) {
  using nlohmann::json;
  auto or_null = [](const std::optional<VmNetwork>& net, auto field) -> json {
    if (!net) return nullptr;
    const std::string& v = (*net).*field;
    return v.empty() ? json(nullptr) : json(v);
  };
  json j;
  j["rank"] = info.rank;
  j["name"] = fmt::format("vm{}", info.rank);
  j["job_id"] = info.job_id;
  j["step_id"] = info.step_id ? json(*info.step_id) : json(nullptr);
  j["node"] = info.node;
  j["pid"] = info.pid;
  j["tap"] = or_null(info.network, &VmNetwork::tap);
  j["mac"] = or_null(info.network, &VmNetwork::mac);
  j["ip"] = or_null(info.network, &VmNetwork::ip);
  j["hostname"] = info.hostname;
  j["host_key_pub"] = info.host_key_pub;
  j["qmp"] = info.paths.qmp.string();
  j["console"] = info.paths.console.string();
  j["console_log"] = info.paths.console_log.string();
  j["agent"] = info.paths.agent.string();
  j["ssh_port"] = info.network && info.network->ssh_port ? json(*info.network->ssh_port) : json(nullptr);
  j["vcpus"] = info.vcpus;
  j["memory_mib"] = info.memory_mib;
  j["accel"] = info.accel;
  j["no_reboot"] = info.no_reboot;
  j["image"] = info.image;
  j["vcpu_cpus"] = info.vcpu_cpus;
  j["emulator_cpus"] = info.emulator_cpus;
  j["numa_nodes"] = info.numa_nodes;
  j["persistent_drives"] = info.persistent_drives;
  j["drive_locks"] = info.drive_locks;
  return j;
}

}  // namespace slurmvm::launch
