// VM placement (placement.hpp).
#include "launch/placement.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "error.hpp"
#include "launch/numa.hpp"
#include "log.hpp"

namespace slurmvm::launch {

Placement place_vm(const config::Template& t, const TaskEnv& task, const std::vector<int>& affinity,
                   std::uint32_t vcpus) {
  Placement p{plan_vcpu_pinning(affinity, vcpus, task.local_id, static_cast<std::uint32_t>(t.emulator_cores)), true,
              {}};
  if (!t.bind_vcpus) {
    if (p.plan.emulator_cpus.empty()) {
      p.pin = false;
      p.plan.cpus_of_vcpu.clear();
      return p;
    }
    // Unpinned vCPUs would inherit the emulator threads' CPUs: give each all the vCPUs' CPUs.
    std::vector<int> all;
    for (const auto& c : p.plan.cpus_of_vcpu) all.insert(all.end(), c.begin(), c.end());
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    for (auto& c : p.plan.cpus_of_vcpu) c = all;
  }
  if (!t.bind_vcpus) return p;
  try {
    const Topology topology = Topology::this_system();
    std::vector<int> cpus;
    for (const auto& c : p.plan.cpus_of_vcpu) cpus.insert(cpus.end(), c.begin(), c.end());
    const std::vector<int> nodes = topology.nodes_of_cpus(cpus);
    if (!nodes.empty()) {
      topology.bind_process_memory(nodes);
      p.numa_nodes = nodes;
      log_debug("guest memory bound to NUMA node {} of {}", fmt::join(nodes, ","), topology.node_count());
    }
  } catch (const Error& e) {
    log_warning("guest memory not bound to the vCPUs' NUMA nodes: {}", e.what());
  }
  return p;
}

std::uint32_t vcpu_count(const config::Template& t, const TaskEnv& task) {
  const auto emulator = static_cast<std::uint32_t>(std::max(t.emulator_cores, 0));
  if (emulator >= task.cpus) {
    throw Error(fmt::format("template {} keeps {} emulator cores but the VM's task has {} CPU{}: ask for at least "
                            "{} CPUs per VM (vm alloc -c {})",
                            t.name, emulator, task.cpus, task.cpus == 1 ? "" : "s", emulator + 1, emulator + 1),
                ErrorKind::config);
  }
  return task.cpus - emulator;
}

}  // namespace slurmvm::launch
