// The VM's memory (memory.hpp).
#include "launch/memory.hpp"

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm::launch {

MemoryPlan plan_vm_memory(const MemoryInputs& in) {
  MemoryPlan plan;
  if (in.mem_per_cpu_mib) {
    plan.task_mib = *in.mem_per_cpu_mib * in.cpus;
    plan.rule = fmt::format("{} MiB per CPU x {} CPUs", *in.mem_per_cpu_mib, in.cpus);
  } else if (in.mem_per_node_mib) {
    if (!in.tasks_on_node || *in.tasks_on_node == 0) {
      throw Error(fmt::format("the job has {} MiB per node but the environment does not say how "
                              "many VMs share the node (SLURM_STEP_TASKS_PER_NODE, SLURM_NODEID): "
                              "allocate with --mem-per-cpu instead",
                              *in.mem_per_node_mib),
                  ErrorKind::config);
    }
    plan.task_mib = *in.mem_per_node_mib / *in.tasks_on_node;
    plan.rule = fmt::format("{} MiB per node / {} VMs on the node", *in.mem_per_node_mib,
                            *in.tasks_on_node);
  } else {
    throw Error("the job has no memory size (neither SLURM_MEM_PER_CPU nor SLURM_MEM_PER_NODE "
                "is set): allocate with --mem-per-cpu=SIZE or --mem=SIZE, or ask the site to set "
                "DefMemPerCPU",
                ErrorKind::config);
  }
  plan.reserve_mib = kQemuBaseReserveMiB + plan.task_mib / kQemuReserveFraction +
                     (in.tcg ? kTcgTranslationCacheMiB : 0);
  plan.vm_mib = plan.task_mib > plan.reserve_mib ? plan.task_mib - plan.reserve_mib : 0;
  if (plan.vm_mib < kMinVmMemoryMiB) {
    // Smallest share s with s - (base + s/64 + tcg) >= min: s >= (min + base + tcg) * 64/63.
    const std::uint64_t fixed = kMinVmMemoryMiB + kQemuBaseReserveMiB + (in.tcg ? kTcgTranslationCacheMiB : 0);
    const std::uint64_t needed = (fixed * kQemuReserveFraction + kQemuReserveFraction - 2) /
                                 (kQemuReserveFraction - 1);
    throw Error(fmt::format("the task has {} MiB ({}); QEMU keeps {} MiB for itself, which leaves "
                            "{} MiB for the VM, less than the {} MiB minimum: ask for at least "
                            "{} MiB per VM (e.g. --mem-per-cpu={}M with {} CPUs per VM)",
                            plan.task_mib, plan.rule, plan.reserve_mib, plan.vm_mib,
                            kMinVmMemoryMiB, needed, (needed + in.cpus - 1) / in.cpus, in.cpus),
                ErrorKind::config);
  }
  return plan;
}

}  // namespace slurmvm::launch
