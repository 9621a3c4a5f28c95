// What a task learns and decides about its VM before anything is written: the environment it
// reads, the memory rule, the vCPU pinning plan, KVM or TCG, vm.json.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>

#include "error.hpp"
#include "launch/kvm_probe.hpp"
#include "launch/memory.hpp"
#include "launch/pinning.hpp"
#include "launch/numa.hpp"
#include "launch/placement.hpp"
#include "launch/task_env.hpp"
#include "launch/vm_info.hpp"

using slurmvm::Error;
using slurmvm::ErrorKind;
using namespace slurmvm::launch;
using testing::HasSubstr;

namespace {

using Env = std::map<std::string, std::string>;

slurmvm::config::EnvLookup lookup(const Env& env) {
  return [env](const std::string& name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

Env task_env() {
  return {{"SLURM_JOB_ID", "42"},    {"SLURM_PROCID", "3"},      {"SLURM_CPUS_PER_TASK", "2"},
          {"SLURM_MEM_PER_CPU", "1024"}, {"SLURMD_NODENAME", "node2"}, {"HOME", "/home/alice"},
          {"SLURM_LOCALID", "1"},    {"USER", "alice"},          {"SLURM_STEP_ID", "0"}};
}

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

KvmFacts facts(bool opened, bool api_ok, bool vm_created, bool pvm_only) {
  KvmFacts f;
  f.opened = opened;
  f.api_ok = api_ok;
  f.vm_created = vm_created;
  f.create_errno = vm_created ? 0 : EPERM;
  f.pvm_only = pvm_only;
  return f;
}

}  // namespace

TEST(LaunchTaskEnv, ReadsWhatSlurmGivesTheTask) {
  const TaskEnv t = read_task_env(lookup(task_env()), {0, 1, 2, 3});
  EXPECT_EQ(t.job_id, 42u);
  EXPECT_EQ(t.rank, 3u);
  EXPECT_EQ(t.step_id, 0u);
  EXPECT_EQ(t.node, "node2");
  EXPECT_EQ(t.cpus, 2u);
  EXPECT_EQ(t.local_id, 1u);
  EXPECT_EQ(t.mem_per_cpu_mib, 1024u);
  EXPECT_FALSE(t.mem_per_node_mib);
  EXPECT_EQ(t.home, "/home/alice");
}

TEST(LaunchTaskEnv, HomeIsAbsoluteWithoutTrailingSlash) {
  Env env = task_env();
  env["HOME"] = "/home/alice//";
  EXPECT_EQ(read_task_env(lookup(env), {0}).home, "/home/alice");
  env["HOME"] = "relative";
  EXPECT_THROW(read_task_env(lookup(env), {0}), Error);
}

TEST(LaunchTaskEnv, CpusDefaultToTheAffinityMask) {
  Env env = task_env();
  env.erase("SLURM_CPUS_PER_TASK");
  EXPECT_EQ(read_task_env(lookup(env), {4, 5, 6}).cpus, 3u);
}

TEST(LaunchTaskEnv, TasksOnTheNodeComeFromTheStepsDistribution) {
  Env env = task_env();
  env["SLURM_STEP_TASKS_PER_NODE"] = "3(x2),1";
  env["SLURM_TASKS_PER_NODE"] = "9";
  env["SLURM_NODEID"] = "2";
  EXPECT_EQ(read_task_env(lookup(env), {0}).tasks_on_node, 1u);
  env["SLURM_NODEID"] = "1";
  EXPECT_EQ(read_task_env(lookup(env), {0}).tasks_on_node, 3u);
  env.erase("SLURM_STEP_TASKS_PER_NODE");
  EXPECT_EQ(read_task_env(lookup(env), {0}).tasks_on_node, std::nullopt);  // index 1 of "9"
  env.erase("SLURM_NODEID");
  env["SLURM_NTASKS_PER_NODE"] = "4";
  EXPECT_EQ(read_task_env(lookup(env), {0}).tasks_on_node, 4u);
}

TEST(LaunchTaskEnv, MissingOrMalformedVariablesAreUsageErrors) {
  Env env = task_env();
  env.erase("SLURM_JOB_ID");
  try {
    read_task_env(lookup(env), {0});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    EXPECT_THAT(e.what(), HasSubstr("SLURM_JOB_ID is not set"));
  }
  env = task_env();
  env["SLURM_PROCID"] = "three";
  EXPECT_THROW(read_task_env(lookup(env), {0}), Error);
  env = task_env();
  env["SLURM_CPUS_PER_TASK"] = "0";
  EXPECT_THROW(read_task_env(lookup(env), {0}), Error);
}

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

TEST(LaunchKvm, TcgUnlessKvmReallyWorks) {
  KvmFacts f;
  f.open_errno = ENOENT;
  EXPECT_FALSE(choose_accelerator(f).kvm);
  EXPECT_THAT(choose_accelerator(f).reason, HasSubstr("cannot be opened"));
  EXPECT_FALSE(choose_accelerator(facts(true, false, false, false)).kvm);
  EXPECT_FALSE(choose_accelerator(facts(true, true, false, false)).kvm);
  EXPECT_FALSE(choose_accelerator(facts(true, true, true, true)).kvm);
  EXPECT_THAT(choose_accelerator(facts(true, true, true, true)).reason, HasSubstr("kvm_pvm"));
  EXPECT_TRUE(choose_accelerator(facts(true, true, true, false)).kvm);
}

TEST(LaunchVmInfo, JsonFields) {
  VmInfo info;
  info.job_id = 42;
  info.rank = 3;
  info.step_id = 0;
  info.node = "node2";
  info.pid = 4321;
  VmNetwork net;
  net.tap = "svm2a.3";
  net.mac = "52:54:00:02:a0:03";
  net.ip = "10.128.32.5";
  net.gateway = "10.128.32.1";
  net.ssh_port = 40022;
  info.network = net;
  info.hostname = "vm3";
  info.host_key_pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDx vm3";
  info.paths = vm_paths("/home/alice/.local/state/slurm-vm/job-42", 3);
  info.vcpus = 2;
  info.memory_mib = 1888;
  info.accel = "tcg";
  const std::string d = "/home/alice/.local/state/slurm-vm/job-42/vm3/";
  EXPECT_EQ(vm_info_json(info), nlohmann::json::parse(R"({
      "rank": 3, "name": "vm3", "job_id": 42, "step_id": 0, "node": "node2", "pid": 4321,
      "tap": "svm2a.3", "mac": "52:54:00:02:a0:03", "ip": "10.128.32.5", "hostname": "vm3",
      "host_key_pub": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDx vm3",
      "qmp": ")" + d + R"(qmp.sock", "console": ")" + d + R"(console.sock",
      "console_log": ")" + d + R"(console.log", "agent": ")" + d + R"(qga.sock",
      "ssh_port": 40022, "vcpus": 2, "memory_mib": 1888, "accel": "tcg", "no_reboot": false, "image": null,
      "vcpu_cpus": [], "emulator_cpus": [], "numa_nodes": [], "persistent_drives": false, "drive_locks": []})"));
  info.network.reset();
  const auto j = vm_info_json(info);
  for (const char* key : {"tap", "mac", "ip", "ssh_port"}) EXPECT_TRUE(j[key].is_null()) << key;
  info.step_id.reset();
  EXPECT_TRUE(vm_info_json(info)["step_id"].is_null());
}
