// A heterogeneous job's components as the prolog reads them from squeue and scontrol
// (netsetup/het_job.hpp): real Slurm 22.05 text, and the same text with a user's job name or
// command imitating scontrol's node/CPU pairs, which must never move a VM.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <fstream>
#include <iterator>
#include <string>

#include "error.hpp"
#include "netsetup/het_job.hpp"

using namespace slurmvm;
using namespace slurmvm::netsetup;
using testing::HasSubstr;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(SLURM_VM_TEST_DATA "/slurm/") + name);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string error_of(const std::string& squeue, const std::string& scontrol) {
  try {
    parse_het_components(6, squeue, scontrol);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    return e.what();
  }
  return "no error";
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  if (at == std::string::npos) ADD_FAILURE() << "fixture lacks " << from;
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

}  // namespace

TEST(HetJob, RealSlurmText) {
  const auto comps = parse_het_components(6, fixture("het-6-squeue.txt"), fixture("het-6-scontrol.txt"));
  ASSERT_EQ(comps.size(), 2u);
  EXPECT_EQ(comps[0].nodes, std::vector<std::string>{"node1"});
  EXPECT_EQ(comps[0].cpus_per_node, std::vector<std::uint32_t>{2});
  EXPECT_EQ(comps[1].nodes, std::vector<std::string>{"node2"});
  EXPECT_EQ(comps[1].cpus_per_node, std::vector<std::uint32_t>{2});
}

TEST(HetJob, NodeSetsAndComponentOrderFromSqueue) {
  const std::string squeue = "9|6+2|n3|1\n7|6+1|n[1-2]|5\n6|6+0|n1|1\n";
  const std::string scontrol =
      "JobId=6 HetJobId=6 JobName=a Nodes=n1 CPU_IDs=0 Mem=0 GRES=\n"
      "JobId=7 HetJobId=6 JobName=b Nodes=n1 CPU_IDs=1-2 Mem=0 GRES= Nodes=n2 CPU_IDs=0,2-3 Mem=0 GRES=\n"
      "JobId=9 HetJobId=6 JobName=c Nodes=n3 CPU_IDs=5 Mem=0 GRES=\n";
  const auto comps = parse_het_components(6, squeue, scontrol);
  ASSERT_EQ(comps.size(), 3u);
  EXPECT_EQ(comps[1].nodes, (std::vector<std::string>{"n1", "n2"}));
  EXPECT_EQ(comps[1].cpus_per_node, (std::vector<std::uint32_t>{2, 3}));
}

TEST(HetJob, ImitatedPairsInAJobNameAreRefused) {
  const std::string squeue = fixture("het-6-squeue.txt");
  const std::string scontrol = fixture("het-6-scontrol.txt");
  // The same node again, with more CPUs (to put more VMs there).
  EXPECT_THAT(error_of(squeue, replace(scontrol, "JobId=7 HetJobId=6 HetJobOffset=1 JobName=interactive",
                                       "JobId=7 HetJobId=6 HetJobOffset=1 JobName=x Nodes=node2 CPU_IDs=0-63")),
              HasSubstr("scontrol gives job 7 node node2 twice"));
  // Another node, outside the component.
  EXPECT_THAT(error_of(squeue, replace(scontrol, "WorkDir=/home/vmuser", "WorkDir=/x Nodes=node9 CPU_IDs=0")),
              HasSubstr("are not squeue's"));
  // A line of its own, through a newline in the job name.
  EXPECT_THAT(error_of(squeue, replace(scontrol, "JobId=6 HetJobId=6 HetJobOffset=0 JobName=interactive",
                                       "JobId=6 HetJobId=6 HetJobOffset=0 JobName=x\nJobId=7 Nodes=node2 CPU_IDs=0-63")),
              HasSubstr("scontrol describes job 7 twice"));
  // A line for a job that is not a component is ignored.
  EXPECT_NO_THROW(parse_het_components(6, squeue, scontrol + "JobId=99 Nodes=node1 CPU_IDs=0-63\n"));
}

TEST(HetJob, DisagreementsAreRefused) {
  const std::string scontrol = fixture("het-6-scontrol.txt");
  EXPECT_THAT(error_of("6|6+0|node1|2\n", scontrol), HasSubstr("no error"));  // a component alone is whole
  EXPECT_THAT(error_of("7|6+1|node2|2\n", scontrol), HasSubstr("squeue misses a component"));
  EXPECT_THAT(error_of("6|6+0|node1|2\n7|6+1|node2|3\n", scontrol), HasSubstr("are not squeue's"));
  EXPECT_THAT(error_of("6|6+0|node1|2\n7|6+1|node[2-3]|2\n", scontrol), HasSubstr("no CPUs on node3"));
  EXPECT_THAT(error_of("6|6+0|node1|2\n8|6+1|node2|2\n", scontrol), HasSubstr("does not describe job 8"));
  EXPECT_THAT(error_of("6|5+0|node1|2\n", scontrol), HasSubstr("unexpected squeue line"));
  EXPECT_THAT(error_of("6|6+0|node1|2|x\n", scontrol), HasSubstr("unexpected squeue line"));
  EXPECT_THAT(error_of("6|6+0|node1|2\n6|6+0|node1|2\n", scontrol), HasSubstr("squeue line"));
  EXPECT_THAT(error_of("", scontrol), HasSubstr("squeue lists no component"));
}

TEST(HetJob, CpuIdLists) {
  EXPECT_EQ(count_cpu_ids("0-1"), 2u);
  EXPECT_EQ(count_cpu_ids("0,2,4-7"), 6u);
  EXPECT_EQ(count_cpu_ids("5"), 1u);
  for (const char* bad : {"", "1-0", "a", "-1", "0-", "0,,1", "0-99999"}) {
    EXPECT_THROW(count_cpu_ids(bad), Error) << bad;
  }
}
