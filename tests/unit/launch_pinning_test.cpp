// The vCPU pinning plan (pinning.hpp, placement.hpp, numa.hpp) and its application to QEMU's
// threads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "error.hpp"
#include "launch/numa.hpp"
#include "launch/pinning.hpp"
#include "launch/placement.hpp"

using slurmvm::Error;
using slurmvm::ErrorKind;
using namespace slurmvm::launch;
using testing::HasSubstr;

TEST(LaunchPinning, OneCpuPerVcpuWhenTheMaskFits) {
  const PinPlan p = plan_vcpu_pinning({8, 9, 10, 11}, 4, 2);
  EXPECT_EQ(p.cpus_of_vcpu, (std::vector<std::vector<int>>{{8}, {9}, {10}, {11}}));
  EXPECT_EQ(p.note, "");
}

TEST(LaunchPinning, VmsSharingAMaskSpreadOverIt) {
  // task/none: every task of the node sees CPUs 0-3; two 2-vCPU VMs take 0-1 and 2-3.
  EXPECT_EQ(plan_vcpu_pinning({0, 1, 2, 3}, 2, 0).cpus_of_vcpu, (std::vector<std::vector<int>>{{0}, {1}}));
  EXPECT_EQ(plan_vcpu_pinning({0, 1, 2, 3}, 2, 1).cpus_of_vcpu, (std::vector<std::vector<int>>{{2}, {3}}));
  // Wrapping, never twice the same CPU within a VM.
  EXPECT_EQ(plan_vcpu_pinning({0, 1, 2}, 2, 1).cpus_of_vcpu, (std::vector<std::vector<int>>{{2}, {0}}));
  EXPECT_THAT(plan_vcpu_pinning({0, 1, 2}, 2, 1).note, HasSubstr("3 CPUs"));
}

TEST(LaunchPinning, MoreVcpusThanCpusShare) {
  const PinPlan p = plan_vcpu_pinning({5}, 3, 0);
  EXPECT_EQ(p.cpus_of_vcpu, (std::vector<std::vector<int>>{{5}, {5}, {5}}));
  EXPECT_THAT(p.note, HasSubstr("share"));
}

TEST(LaunchPinning, EmulatorCoresAreTheLastOfTheVmsCpus) {
  // -c 4 with emulator-cores: 1: three vCPUs on 8-10, QEMU's other threads on 11.
  const PinPlan p = plan_vcpu_pinning({8, 9, 10, 11}, 3, 0, 1);
  EXPECT_EQ(p.cpus_of_vcpu, (std::vector<std::vector<int>>{{8}, {9}, {10}}));
  EXPECT_EQ(p.emulator_cpus, (std::vector<int>{11}));
  EXPECT_EQ(p.note, "");
  // Two such VMs sharing an unbound mask of 8 CPUs: the second takes 4-6 and 7.
  const PinPlan second = plan_vcpu_pinning({0, 1, 2, 3, 4, 5, 6, 7}, 3, 1, 1);
  EXPECT_EQ(second.cpus_of_vcpu, (std::vector<std::vector<int>>{{4}, {5}, {6}}));
  EXPECT_EQ(second.emulator_cpus, (std::vector<int>{7}));
  // Too few CPUs for both: the vCPUs share, the emulator threads are not confined.
  const PinPlan few = plan_vcpu_pinning({0, 1}, 2, 0, 1);
  EXPECT_TRUE(few.emulator_cpus.empty());
  EXPECT_THAT(few.note, HasSubstr("not applied"));
}

TEST(LaunchPlacement, EmulatorCoresLeaveTheRestAsVcpus) {
  slurmvm::config::Template t;
  t.name = "compute";
  t.emulator_cores = 1;
  TaskEnv task;
  task.cpus = 4;
  EXPECT_EQ(vcpu_count(t, task), 3u);
  task.cpus = 1;
  try {
    vcpu_count(t, task);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("ask for at least 2 CPUs per VM (vm alloc -c 2)"));
  }
}

TEST(LaunchPlacement, UnboundVcpusNeverShareTheEmulatorsCpus) {
  slurmvm::config::Template t;
  t.bind_vcpus = false;
  TaskEnv task;
  task.cpus = 3;
  // Without emulator-cores: nothing pinned, nothing bound.
  Placement p = place_vm(t, task, {4, 5, 6}, 3);
  EXPECT_FALSE(p.pin);
  EXPECT_TRUE(p.plan.cpus_of_vcpu.empty());
  EXPECT_TRUE(p.numa_nodes.empty());
  // With one: both vCPUs may run on 4-5, QEMU's threads on 6.
  t.emulator_cores = 1;
  p = place_vm(t, task, {4, 5, 6}, 2);
  EXPECT_TRUE(p.pin);
  EXPECT_EQ(p.plan.cpus_of_vcpu, (std::vector<std::vector<int>>{{4, 5}, {4, 5}}));
  EXPECT_EQ(p.plan.emulator_cpus, (std::vector<int>{6}));
  EXPECT_TRUE(p.numa_nodes.empty());
}

TEST(LaunchNuma, NodesOfTheVcpusCpus) {
  // Two NUMA nodes of two cores each: PUs 0-1 on node 0, 2-3 on node 1.
  const Topology t = Topology::synthetic("node:2 core:2 pu:1");
  EXPECT_EQ(t.node_count(), 2);
  EXPECT_EQ(t.nodes_of_cpus({0, 1}), (std::vector<int>{0}));
  EXPECT_EQ(t.nodes_of_cpus({3}), (std::vector<int>{1}));
  EXPECT_EQ(t.nodes_of_cpus({1, 2}), (std::vector<int>{0, 1}));
  EXPECT_TRUE(t.nodes_of_cpus({}).empty());
  EXPECT_THROW(Topology::synthetic("no such thing"), Error);
}

TEST(LaunchNuma, BindsThisProcessesMemoryPolicy) {
  // The real kernel: a child binds its policy to the nodes of its CPUs and reads it back.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      const Topology t = Topology::this_system();
      const auto nodes = t.nodes_of_cpus(current_affinity());
      if (nodes.empty()) ::_exit(2);
      t.bind_process_memory(nodes);
      // /proc/self/numa_maps shows the policy of every mapping made from now on.
      std::vector<char> buffer(64 << 20, 1);  // a fresh anonymous mapping, touched
      std::ifstream maps("/proc/self/numa_maps");
      std::string line;
      const std::string bind = "bind:" + std::to_string(nodes.front());
      bool found = false;
      while (std::getline(maps, line)) found = found || line.find(bind) != std::string::npos;
      ::_exit(found && buffer[1000] == 1 ? 0 : 3);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      ::_exit(4);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: no NUMA node for our CPUs, 3: no bind: mapping, 4: an Error";
}

TEST(LaunchPinning, AppliesThePlanToQemusThreads) {
  std::map<int, std::vector<int>> pinned;
  auto set = [&](int tid, const std::vector<int>& cpus) {
    pinned[tid] = cpus;
    return 0;
  };
  const auto reply = nlohmann::json::parse(R"([
      {"cpu-index": 0, "thread-id": 1001, "qom-path": "/machine/unattached/device[0]", "target": "x86_64"},
      {"cpu-index": 1, "thread-id": 1002, "qom-path": "/machine/unattached/device[1]", "target": "x86_64"}])");
  EXPECT_TRUE(apply_pinning(reply, plan_vcpu_pinning({6, 7}, 2, 0), set).empty());
  EXPECT_EQ(pinned, (std::map<int, std::vector<int>>{{1001, {6}}, {1002, {7}}}));
}

TEST(LaunchPinning, OneThreadForAllVcpusGetsTheirUnion) {
  // Single-threaded TCG runs every vCPU in one thread.
  std::map<int, std::vector<int>> pinned;
  auto set = [&](int tid, const std::vector<int>& cpus) {
    pinned[tid] = cpus;
    return 0;
  };
  const auto reply = nlohmann::json::parse(R"([{"cpu-index": 0, "thread-id": 77}, {"cpu-index": 1, "thread-id": 77}])");
  EXPECT_TRUE(apply_pinning(reply, plan_vcpu_pinning({3, 2}, 2, 0), set).empty());
  EXPECT_EQ(pinned, (std::map<int, std::vector<int>>{{77, {2, 3}}}));
}

TEST(LaunchPinning, FailuresBecomeWarnings) {
  auto refuse = [](int, const std::vector<int>&) { return EPERM; };
  const auto reply = nlohmann::json::parse(R"([{"cpu-index": 0, "thread-id": 5}, {"cpu-index": 4, "thread-id": 6}, {"x": 1}])");
  const auto warnings = apply_pinning(reply, plan_vcpu_pinning({0}, 1, 0), refuse);
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_THAT(warnings, testing::Contains(HasSubstr("cannot pin vCPU 0 (thread 5) to CPU 0")));
  EXPECT_THAT(warnings, testing::Contains(HasSubstr("vCPU 4 has no CPU in the plan")));
  EXPECT_FALSE(apply_pinning(nlohmann::json::object(), {}, refuse).empty());
}

TEST(LaunchPinning, TheAffinityOfThisProcessIsNotEmpty) {
  const auto cpus = current_affinity();
  ASSERT_FALSE(cpus.empty());
  EXPECT_TRUE(std::is_sorted(cpus.begin(), cpus.end()));
}
