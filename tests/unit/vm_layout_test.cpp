// VM placement and Slurm's list syntaxes: the prolog and the CLI must agree on every node.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include "error.hpp"
#include "job_names.hpp"
#include "slurm_lists.hpp"
#include "vm_layout.hpp"

using slurmvm::ComponentAllocation;
using slurmvm::Error;
using slurmvm::ErrorKind;
using slurmvm::HetLayout;
using slurmvm::compute_het_layout;

TEST(SlurmLists, Hostlists) {
  using V = std::vector<std::string>;
  EXPECT_EQ(slurmvm::expand_hostlist("node1"), V{"node1"});
  EXPECT_EQ(slurmvm::expand_hostlist("node[1-3]"), (V{"node1", "node2", "node3"}));
  EXPECT_EQ(slurmvm::expand_hostlist("node[1-2,7],login"), (V{"node1", "node2", "node7", "login"}));
  EXPECT_EQ(slurmvm::expand_hostlist("n[08-10]"), (V{"n08", "n09", "n10"}));
  EXPECT_EQ(slurmvm::expand_hostlist("r[1-2]-ib"), (V{"r1-ib", "r2-ib"}));
  for (const char* bad : {"", "node[", "node[1-", "node[3-1]", "node]", "a,,b", "n[1]x[2]"}) {
    EXPECT_THROW(slurmvm::expand_hostlist(bad), Error) << bad;
  }
}

TEST(SlurmLists, Counts) {
  using V = std::vector<std::uint32_t>;
  EXPECT_EQ(slurmvm::expand_counts("2"), V{2});
  EXPECT_EQ(slurmvm::expand_counts("2(x3),1"), (V{2, 2, 2, 1}));
  EXPECT_EQ(slurmvm::expand_counts("4,2(x2)"), (V{4, 2, 2}));
  for (const char* bad : {"", "x", "2(x0)", "2(x", "2(3)", "2,"}) {
    EXPECT_THROW(slurmvm::expand_counts(bad), Error) << bad;
  }
}

TEST(VmLayout, UnevenThreeVmsOnTwoNodes) {
  const std::vector<std::uint32_t> cpus{2, 1};
  const auto l = slurmvm::compute_vm_layout(cpus, 3);
  EXPECT_EQ(l.cpus_per_vm, 1u);
  EXPECT_EQ(l.node_of_vm, (std::vector<std::uint32_t>{0, 0, 1}));
  EXPECT_EQ(l.vms_on(0), (std::vector<std::uint32_t>{0, 1}));
  EXPECT_EQ(l.vms_on(1), (std::vector<std::uint32_t>{2}));
}

TEST(VmLayout, TwoCpusPerVm) {
  const std::vector<std::uint32_t> cpus{4, 4};
  const auto l = slurmvm::compute_vm_layout(cpus, 4);
  EXPECT_EQ(l.cpus_per_vm, 2u);
  EXPECT_EQ(l.node_of_vm, (std::vector<std::uint32_t>{0, 0, 1, 1}));
}

TEST(VmLayout, ShrinksCpusUntilEveryVmFits) {
  // 3+3 CPUs for 3 VMs: 2 CPUs each would only hold 2 VMs.
  const std::vector<std::uint32_t> cpus{3, 3};
  const auto l = slurmvm::compute_vm_layout(cpus, 3);
  EXPECT_EQ(l.cpus_per_vm, 1u);
  EXPECT_EQ(l.node_of_vm, (std::vector<std::uint32_t>{0, 0, 0}));
}

TEST(VmLayout, OneVmPerNodeWhenNodesAreWhole) {
  const std::vector<std::uint32_t> cpus{2, 2};
  const auto l = slurmvm::compute_vm_layout(cpus, 2);
  EXPECT_EQ(l.cpus_per_vm, 2u);
  EXPECT_EQ(l.node_of_vm, (std::vector<std::uint32_t>{0, 1}));
}

TEST(VmLayout, TooFewCpus) {
  const std::vector<std::uint32_t> cpus{1, 1};
  try {
    slurmvm::compute_vm_layout(cpus, 3);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "the job has 2 CPUs on 2 nodes, too few for 3 VMs (one CPU each at least)");
  }
}

// master:1:c=2,compute:3:c=1 as Slurm may place it: the master alone on node1, the computes on
// node2 and on node1's other CPUs (components share nodes).
TEST(VmLayout, HeterogeneousGroupsOnTheirComponents) {
  const std::vector<std::uint32_t> counts = {1, 3};
  const std::vector<ComponentAllocation> comps = {{10, {"node1"}, {2}}, {11, {"node2", "node1"}, {2, 1}}};
  const HetLayout l = compute_het_layout(counts, comps);
  EXPECT_EQ(l.nodes, (std::vector<std::string>{"node1", "node2"}));
  EXPECT_EQ(l.node_of_vm, (std::vector<std::uint32_t>{0, 1, 1, 0}));
  EXPECT_EQ(l.cpus_of_vm, (std::vector<std::uint32_t>{2, 1, 1, 1}));
  ASSERT_EQ(l.components.size(), 2u);
  EXPECT_EQ(l.components[1].node_of_vm, (std::vector<std::uint32_t>{0, 0, 1}));  // its own node list
  // As for any job, a VM gets every CPU its share of the component holds: 3 VMs on 2+1+4 CPUs
  // get 2 each (node2, then two on node3), whatever c= asked.
  const std::vector<ComponentAllocation> roomy = {{10, {"node1"}, {2}}, {11, {"node2", "node1", "node3"}, {2, 1, 4}}};
  const HetLayout r = compute_het_layout(counts, roomy);
  EXPECT_EQ(r.nodes, (std::vector<std::string>{"node1", "node2", "node3"}));
  EXPECT_EQ(r.node_of_vm, (std::vector<std::uint32_t>{0, 1, 2, 2}));
  EXPECT_EQ(r.cpus_of_vm, (std::vector<std::uint32_t>{2, 2, 2, 2}));
}

TEST(VmLayout, HeterogeneousMismatchesAreRefused) {
  const std::vector<std::uint32_t> two = {1, 2};
  const std::vector<ComponentAllocation> one = {{10, {"node1"}, {2}}};
  EXPECT_THROW(compute_het_layout(two, one), Error);
  const std::vector<ComponentAllocation> small = {{10, {"node1"}, {2}}, {11, {"node2"}, {1}}};
  try {
    compute_het_layout(two, small);
    FAIL() << "two VMs fitted on one CPU";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_THAT(e.what(), testing::HasSubstr("component 1 of the heterogeneous job"));
  }
}

TEST(JobNames, TapNamesFitIfnamsiz) {
  EXPECT_EQ(slurmvm::tap_name(0xffffffff, 4092), "svmffffffff.ffc");
  EXPECT_LE(slurmvm::tap_name(0xffffffff, 4092).size(), 15u);
  EXPECT_EQ(slurmvm::tap_name(42, 0), "svm2a.0");
}

TEST(JobNames, NetworkIdsStayInPlan) {
  const auto plan = slurmvm::AddressPlan::default_plan();
  EXPECT_EQ(slurmvm::network_id_for_job(0, plan), 1u);
  EXPECT_EQ(slurmvm::network_id_for_job(2046, plan), 2047u);
  EXPECT_EQ(slurmvm::network_id_for_job(2047, plan), 1u);
}
