// What a VM task reads of its environment (task_env.hpp): Slurm's variables, the home directory,
// the CPUs, the tasks on the node, and the usage errors when one is missing or malformed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "error.hpp"
#include "launch/task_env.hpp"

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
