// The VM's memory from the task's (memory.hpp): per CPU or per node, less what QEMU keeps.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>

#include "error.hpp"
#include "launch/memory.hpp"

using slurmvm::Error;
using slurmvm::ErrorKind;
using namespace slurmvm::launch;
using testing::HasSubstr;

namespace {

MemoryInputs per_cpu(std::uint32_t cpus, std::uint64_t mib, bool tcg) {
  MemoryInputs in;
  in.cpus = cpus;
  in.mem_per_cpu_mib = mib;
  in.tcg = tcg;
  return in;
}

MemoryInputs per_node(std::uint32_t cpus, std::uint64_t mib, std::optional<std::uint32_t> tasks, bool tcg) {
  MemoryInputs in;
  in.cpus = cpus;
  in.mem_per_node_mib = mib;
  in.tasks_on_node = tasks;
  in.tcg = tcg;
  return in;
}

}  // namespace

TEST(LaunchMemory, PerCpuTimesCpusLessQemusReserve) {
  // 2 x 1024 = 2048; reserve 64 + 2048/64 + 64 (TCG) = 160.
  const MemoryPlan tcg = plan_vm_memory(per_cpu(2, 1024, true));
  EXPECT_EQ(tcg.task_mib, 2048u);
  EXPECT_EQ(tcg.reserve_mib, 160u);
  EXPECT_EQ(tcg.vm_mib, 1888u);
  const MemoryPlan kvm = plan_vm_memory(per_cpu(2, 1024, false));
  EXPECT_EQ(kvm.vm_mib, 2048u - 96u);
}

TEST(LaunchMemory, PerNodeIsSharedByTheNodesVms) {
  const MemoryPlan p = plan_vm_memory(per_node(4, 64000, 4, false));
  EXPECT_EQ(p.task_mib, 16000u);
  EXPECT_EQ(p.vm_mib, 16000u - 64u - 250u);
  EXPECT_EQ(p.rule, "64000 MiB per node / 4 VMs on the node");
  // Per CPU wins when both are set (Slurm sets only one; --mem-per-cpu is the precise one).
  MemoryInputs both = per_node(1, 64000, 1, true);
  both.mem_per_cpu_mib = 512;
  EXPECT_EQ(plan_vm_memory(both).task_mib, 512u);
}

TEST(LaunchMemory, TheSmallestTaskThatBootsAndTheOneBelow) {
  // The tiny test guest: 512 MiB per CPU under TCG leaves 376 MiB.
  EXPECT_EQ(plan_vm_memory(per_cpu(1, 512, true)).vm_mib, 376u);
  EXPECT_EQ(plan_vm_memory(per_cpu(1, 261, true)).vm_mib, 129u);
  try {
    plan_vm_memory(per_cpu(1, 200, true));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_THAT(e.what(), HasSubstr("ask for at least 261 MiB per VM"));
  }
}

TEST(LaunchMemory, NoMemorySizeOrNoTaskCountIsAnError) {
  MemoryInputs none;
  none.cpus = 1;
  EXPECT_THROW(plan_vm_memory(none), Error);
  EXPECT_THROW(plan_vm_memory(per_node(1, 4096, std::nullopt, true)), Error);
}
