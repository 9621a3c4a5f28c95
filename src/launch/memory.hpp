// How much RAM the VM gets: the task's share of the job's memory, less what QEMU itself needs
// beside the guest's RAM, so that the VM fits in the job's memory limit (the cgroup kills the
// whole QEMU, not just the guest, when it does not). docs/vm-launch.md states the rule.
//
// The task's share:
//   SLURM_MEM_PER_CPU set (--mem-per-cpu):  MEM_PER_CPU x the task's CPUs
//   else SLURM_MEM_PER_NODE set (--mem):    MEM_PER_NODE / the step's tasks on this node
//   else:                                   an error (the job has no memory size)
// QEMU's reserve: 64 MiB (its own code, heap, device state) + 1/64 of the share (page tables
// and per-page bookkeeping grow with guest RAM) + the TCG translation cache under TCG.
// A VM under 128 MiB boots nothing useful: that is an error that says how much to ask for.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace slurmvm::launch {

inline constexpr std::uint64_t kQemuBaseReserveMiB = 64;
inline constexpr std::uint64_t kQemuReserveFraction = 64;  // 1/64 of the share
inline constexpr std::uint64_t kTcgTranslationCacheMiB = 64;  // -accel tcg,tb-size=64
inline constexpr std::uint64_t kMinVmMemoryMiB = 128;

struct MemoryInputs {
  std::uint32_t cpus = 0;
  std::optional<std::uint64_t> mem_per_cpu_mib;
  std::optional<std::uint64_t> mem_per_node_mib;
  std::optional<std::uint32_t> tasks_on_node;
  bool tcg = false;
};

struct MemoryPlan {
  std::uint64_t task_mib = 0;     // the task's share of the job's memory
  std::uint64_t reserve_mib = 0;  // kept for QEMU itself
  std::uint64_t vm_mib = 0;       // -m
  std::string rule;               // how task_mib was found, for messages ("512 MiB per CPU x 1")
};

// Throws Error(ErrorKind::config) when the job has no memory size, or when the VM would get
// less than kMinVmMemoryMiB; the message says what to ask Slurm for.
MemoryPlan plan_vm_memory(const MemoryInputs& in);

}  // namespace slurmvm::launch
