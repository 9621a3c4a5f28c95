// Exactly what vm-prolog does to a node for one job, pinned in reviewed files: job 4242, VMs
// master:1,compute:2 on nodeA (2 CPUs) and nodeB (1 CPU), seen from nodeA, which runs vm0 and
// vm1; vm2 runs on nodeB (underlay 10.99.0.2). The OVSDB transaction of step 14, the flow
// table of step 16, the nft batch of step 19 (with a second job already on the node) and
// vms.json of step 18 (docs/prolog-epilog.md §2). The same builders run against a real OVS and
// nft in tests/root/prolog_node_test.sh.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "addressing.hpp"
#include "golden_file.hpp"
#include "netsetup/job_changes.hpp"

using namespace slurmvm;
using namespace slurmvm::netsetup;

namespace {

JobInputs job_4242_on_node_a() {
  const std::map<std::string, std::string> env = {
      {"SLURM_JOB_ID", "4242"},       {"SLURM_JOB_UID", "1000"},
      {"SLURM_JOB_GID", "1000"},      {"SLURMD_NODENAME", "nodeA"},
      {"SLURM_JOB_NODELIST", "nodeA,nodeB"}, {"SLURM_JOB_CPUS_PER_NODE", "2,1"},
      {"SPANK_VM_TEMPLATE", "master:1,compute:2"}};
  return parse_job_inputs([env](const std::string& name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
}

const std::map<std::string, std::uint32_t> kNodeIps = {{"nodeB", 0x0a630002}};  // 10.99.0.2

}  // namespace

TEST(NodeJobGolden, OvsdbTransaction) {
  const auto plan = plan_node(job_4242_on_node_a(), AddressPlan::default_plan());
  const auto ops = ovsdb_ops::add_ports("br-int", job_port_specs(plan, 1400), ovsdb_comment(4242));
  expect_golden("job-4242-nodeA/ovsdb-add-ports.json", ops.dump(2) + "\n");
}

TEST(NodeJobGolden, FlowTable) {
  const auto in = job_4242_on_node_a();
  const auto plan = plan_node(in, AddressPlan::default_plan());
  expect_golden("job-4242-nodeA/flows.txt", job_flows(job_network(plan, in.nodes, "svm-gre", kNodeIps, true)));
}

TEST(NodeJobGolden, Dnsmasq) {
  const auto plan = plan_node(job_4242_on_node_a(), AddressPlan::default_plan());
  const auto cfg = job_dnsmasq(plan, "/run/slurm-vm/dnsmasq/4242.pid", 1450, "vm.internal", "10.99.0.53", std::nullopt);
  std::string text;
  for (const auto& arg : dnsmasq_argv(cfg)) text += arg + "\n";
  expect_golden("job-4242-nodeA/dnsmasq.argv", text);
}

TEST(NodeJobGolden, NftBatchWithAnotherJobOnTheNode) {
  const auto plan = plan_node(job_4242_on_node_a(), AddressPlan::default_plan());
  auto rules = job_nat_rules(plan, {60222, 60223}, 22);
  rules.push_back({4243, 0, 60224, 0x0a800202, 22});  // job 4243's vm0, already here
  // Job 4242's network allows outbound connections (allow-outbound: all), 4243's does not.
  const std::vector<OutboundRule> outbound = {{4242, Ipv4Cidr::parse("10.137.80.0/20")}};
  expect_golden("job-4242-nodeA/nft-batch.nft", nat_table_batch(rules, 2, outbound));
}

TEST(NodeJobGolden, VmsJson) {
  const auto plan = plan_node(job_4242_on_node_a(), AddressPlan::default_plan());
  expect_golden("job-4242-nodeA/vms.json", vms_json(plan, {60222, 60223}).dump(2) + "\n");
}

TEST(NodeJobGolden, RemoteNodeWithoutAddressIsAnInternalError) {
  const auto in = job_4242_on_node_a();
  const auto plan = plan_node(in, AddressPlan::default_plan());
  EXPECT_THROW(job_network(plan, in.nodes, "svm-gre", {}, false), Error);
  EXPECT_THROW(job_nat_rules(plan, {60222}, 22), Error);
  EXPECT_TRUE(job_nat_rules(plan, {}, 22).empty());
}
