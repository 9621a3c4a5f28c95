// vm.json (vm_record.hpp).
#include "vm_record.hpp"

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm {

using nlohmann::json;

json to_json(const VmRecord& vm) {
  const auto or_null = [](const std::string& v) { return v.empty() ? json(nullptr) : json(v); };
  json locks = json::array();
  for (const auto& l : vm.drive_locks) locks.push_back(l.string());
  json j;
  j["rank"] = vm.rank;
  j["name"] = vm.name;
  j["job_id"] = vm.job_id;
  j["step_id"] = vm.step_id ? json(*vm.step_id) : json(nullptr);
  j["node"] = vm.node;
  j["pid"] = vm.pid;
  j["tap"] = or_null(vm.tap);
  j["mac"] = or_null(vm.mac);
  j["ip"] = or_null(vm.ip);
  j["hostname"] = vm.hostname;
  j["host_key_pub"] = vm.host_key_pub;
  j["qmp"] = vm.qmp.string();
  j["console"] = vm.console.string();
  j["console_log"] = vm.console_log.string();
  j["agent"] = vm.agent.string();
  j["ssh_port"] = vm.ssh_port ? json(*vm.ssh_port) : json(nullptr);
  j["network_id"] = vm.network_id;
  j["vcpus"] = vm.vcpus;
  j["memory_mib"] = vm.memory_mib;
  j["accel"] = vm.accel;
  j["no_reboot"] = vm.no_reboot;
  j["image"] = vm.image;
  j["vcpu_cpus"] = vm.vcpu_cpus;
  j["emulator_cpus"] = vm.emulator_cpus;
  j["numa_nodes"] = vm.numa_nodes;
  j["persistent_drives"] = vm.persistent_drives;
  j["drive_locks"] = std::move(locks);
  return j;
}

VmRecord parse_vm_record(std::string_view text, std::string_view source) {
  try {
    const json j = json::parse(text);
    const auto string_or_empty = [&](const char* key) {
      const auto it = j.find(key);
      return it == j.end() || it->is_null() ? std::string{} : it->get<std::string>();
    };
    VmRecord vm;
    vm.rank = j.at("rank").get<std::uint32_t>();
    vm.name = j.at("name").get<std::string>();
    vm.node = j.at("node").get<std::string>();
    vm.job_id = j.value("job_id", 0U);
    if (j.contains("step_id") && !j.at("step_id").is_null()) vm.step_id = j.at("step_id").get<std::uint32_t>();
    vm.pid = j.value("pid", std::int64_t{0});
    vm.tap = string_or_empty("tap");
    vm.mac = string_or_empty("mac");
    vm.ip = string_or_empty("ip");
    if (j.contains("ssh_port") && !j.at("ssh_port").is_null()) vm.ssh_port = j.at("ssh_port").get<std::uint16_t>();
    vm.network_id = j.value("network_id", 0U);
    vm.hostname = string_or_empty("hostname");
    vm.host_key_pub = string_or_empty("host_key_pub");
    vm.qmp = string_or_empty("qmp");
    vm.console = string_or_empty("console");
    vm.console_log = string_or_empty("console_log");
    vm.agent = string_or_empty("agent");
    vm.vcpus = j.value("vcpus", 0U);
    vm.memory_mib = j.value("memory_mib", std::uint64_t{0});
    vm.accel = string_or_empty("accel");
    vm.no_reboot = j.value("no_reboot", false);
    vm.image = j.value("image", json());
    vm.vcpu_cpus = j.value("vcpu_cpus", std::vector<std::vector<int>>{});
    vm.emulator_cpus = j.value("emulator_cpus", std::vector<int>{});
    vm.numa_nodes = j.value("numa_nodes", std::vector<int>{});
    vm.persistent_drives = j.value("persistent_drives", false);
    for (const auto& l : j.value("drive_locks", std::vector<std::string>{})) vm.drive_locks.emplace_back(l);
    return vm;
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: {}", source, e.what()), ErrorKind::system);
  }
}

json to_json(const LaunchFailure& failure) { return {{"node", failure.node}, {"message", failure.message}}; }

LaunchFailure parse_launch_failure(std::string_view text, std::string_view source) {
  try {
    const json j = json::parse(text);
    return {.node = j.at("node").get<std::string>(), .message = j.at("message").get<std::string>()};
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: {}", source, e.what()), ErrorKind::system);
  }
}

}  // namespace slurmvm
