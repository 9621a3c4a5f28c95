// Where `vm boot` puts each VM and the srun step it starts (src/cli/boot_layout.hpp), from the
// variables an ordinary and a heterogeneous allocation export (measured with Slurm 22.05).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "boot_layout.hpp"
#include "error.hpp"

using namespace slurmvm;
using namespace slurmvm::cli;

namespace {

config::EnvLookup lookup(std::map<std::string, std::string> env) {
  return [env](const std::string& name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

const std::vector<std::string> kCommon = {"--kill-on-bad-exit=1"};
const std::vector<std::string> kCommand = {"vm-launch", "DEF"};

}  // namespace

TEST(BootLayout, OrdinaryAllocationOneComponentThroughAHostFile) {
  const auto l = boot_layout(ClusterDef::parse("tiny:3"),
                             lookup({{"SLURM_JOB_NODELIST", "node[1-2]"}, {"SLURM_JOB_CPUS_PER_NODE", "2,1"}}));
  EXPECT_FALSE(l.heterogeneous);
  EXPECT_EQ(l.nodes, (std::vector<std::string>{"node1", "node2"}));
  EXPECT_EQ(boot_hostfile(l), "node1\nnode1\nnode2\n");
  EXPECT_EQ(vms_step_argv(l, kCommon, kCommand),
            (std::vector<std::string>{"--kill-on-bad-exit=1", "--ntasks=3", "--cpus-per-task=1",
                                      "--distribution=arbitrary", "vm-launch", "DEF"}));
  EXPECT_TRUE(l.node_components.empty());
}

TEST(BootLayout, HeterogeneousAllocationOneComponentPerGroup) {
  const auto l = boot_layout(ClusterDef::parse("m:1:c=2,c:2:c=1"),
                             lookup({{"SLURM_HET_SIZE", "2"},
                                     {"SLURM_JOB_NODELIST_HET_GROUP_0", "node1"},
                                     {"SLURM_JOB_CPUS_PER_NODE_HET_GROUP_0", "2"},
                                     {"SLURM_JOB_NODELIST_HET_GROUP_1", "node2"},
                                     {"SLURM_JOB_CPUS_PER_NODE_HET_GROUP_1", "2"}}));
  EXPECT_TRUE(l.heterogeneous);
  EXPECT_EQ(l.node_of_vm, (std::vector<std::uint32_t>{0, 1, 1}));
  EXPECT_EQ(cpus_per_vm_env(l), "2,1,1");
  EXPECT_EQ(l.node_components, (std::map<std::string, std::uint32_t>{{"node1", 0}, {"node2", 1}}));
  EXPECT_EQ(vms_step_argv(l, kCommon, kCommand),
            (std::vector<std::string>{"--kill-on-bad-exit=1", "--ntasks=1", "--cpus-per-task=2",
                                      "--distribution=arbitrary", "--nodelist=node1", "vm-launch", "DEF", ":",
                                      "--kill-on-bad-exit=1", "--ntasks=2", "--cpus-per-task=1",
                                      "--distribution=arbitrary", "--nodelist=node2,node2", "vm-launch", "DEF"}));
}

TEST(BootLayout, MismatchesAreRefused) {
  // Several sizes need a heterogeneous allocation.
  EXPECT_THROW(boot_layout(ClusterDef::parse("m:1:c=2,c:2:c=1"),
                           lookup({{"SLURM_JOB_NODELIST", "node1"}, {"SLURM_JOB_CPUS_PER_NODE", "4"}})),
               Error);
  // One component per group.
  EXPECT_THROW(boot_layout(ClusterDef::parse("m:1:c=2,c:2:c=1"),
                           lookup({{"SLURM_HET_SIZE", "3"}, {"SLURM_JOB_NODELIST_HET_GROUP_0", "node1"}})),
               Error);
  // Outside an allocation.
  EXPECT_THROW(boot_layout(ClusterDef::parse("tiny:1"), lookup({})), Error);
}
