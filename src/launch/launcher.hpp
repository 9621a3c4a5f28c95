// vm-launch's sequence, from a task's environment to exec'ing QEMU: read the configuration and
// the VM's template, size the VM, find its network attachment, prepare its directory (overlay,
// seed), write vm.json, start the pinning helper and become QEMU.
#pragma once

#include <string>
#include <vector>

#include "launch/task_env.hpp"

namespace slurmvm::launch {

struct LaunchOptions {
  std::string definition;  // the cluster definition, e.g. "master:1,compute:4"
  bool network = true;     // false: no NIC (tests, --no-network)
};

// Does not return: execs QEMU, or throws Error.
[[noreturn]] void launch_vm(const LaunchOptions& options, const TaskEnv& task,
                            const std::vector<int>& affinity);

}  // namespace slurmvm::launch
