// Where a VM runs on its node: how many vCPUs it has (the task's CPUs less the template's
// emulator-cores), which CPU each vCPU thread and QEMU's other threads get (pinning.hpp), and the
// NUMA nodes its memory is bound to (numa.hpp). docs/vm-launch.md, Pinning.
#pragma once

#include <cstdint>
#include <vector>

#include "config/template.hpp"
#include "launch/pinning.hpp"
#include "launch/task_env.hpp"

namespace slurmvm::launch {

struct Placement {
  PinPlan plan;
  bool pin = true;  // the pinner sets the vCPU threads' affinity
  std::vector<int> numa_nodes;  // the guest memory's binding; empty: not bound
};

// The task's CPUs less the template's emulator-cores. Throws Error(config), saying which -c to
// ask for, when that leaves no vCPU.
std::uint32_t vcpu_count(const config::Template& t, const TaskEnv& task);

// Plans the pinning and, unless bind-vcpus is false, binds this thread's memory policy to the
// vCPUs' NUMA nodes (inherited by QEMU across exec). A binding failure is a warning.
Placement place_vm(const config::Template& t, const TaskEnv& task, const std::vector<int>& affinity,
                   std::uint32_t vcpus);

}  // namespace slurmvm::launch
