// Exactly what vm-prolog does to a node for one job, pinned in reviewed files: job 4242, VMs
// master:1,compute:2 on nodeA (2 CPUs) and nodeB (1 CPU), seen from nodeA, which runs vm0 and
// vm1; vm2 runs on nodeB (underlay 10.99.0.2). The OVSDB transaction of step 14, the flow
// table of step 16, the nft batch of step 19 (with a second job already on the node) and
// vms.json of step 18 (docs/prolog-epilog.md §2). The same builders run against a real OVS and
// nft in tests/root/prolog_node_test.sh.
//
// The networks are those of the repository's example configuration (templates/, which the
// sandbox installs): job 4242 uses the default resource set (nat-rssh, L3); job 4243 the same
// cluster with the `cluster` set (nat-rssh, then the L2 segment `private`) for the master and
// a set with a bridged NIC added for the computes.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>

#include "addressing.hpp"
#include "cluster_def.hpp"
#include "config/config.hpp"
#include "golden_file.hpp"
#include "netsetup/job_changes.hpp"
#include "reference_jobs.hpp"

using namespace slurmvm;
using namespace slurmvm::netsetup;
using namespace slurmvm::test;

TEST(NodeJobGolden, OvsdbTransaction) {
  const auto ops = ovsdb_ops::add_ports("br-int", job_port_specs(job_4242()), ovsdb_comment(4242));
  expect_golden("job-4242-nodeA/ovsdb-add-ports.json", ops.dump(2) + "\n");
}

TEST(NodeJobGolden, FlowTable) {
  const auto in = job_on_node_a("4242", std::nullopt);
  expect_golden("job-4242-nodeA/flows.txt", job_flows(job_networks(plan_for(in), in.nodes, "svm-gre", kNodeIps)));
}

TEST(NodeJobGolden, Dnsmasq) {
  auto plan = job_4242();
  plan.nets.networks.at(0).dns_server = "10.99.0.53";
  const auto cfg = job_dnsmasq(plan);
  std::string text;
  for (const auto& arg : dnsmasq_argv(cfg)) text += arg + "\n";
  expect_golden("job-4242-nodeA/dnsmasq.argv", text);
}

// networks.yaml dns-search reaches the VMs as DHCP option 119.
TEST(NodeJobGolden, DnsmasqHandsOutTheSearchDomain) {
  auto plan = job_4242();
  plan.nets.networks.at(0).dns_search = "example.org";
  const auto argv = dnsmasq_argv(job_dnsmasq(plan));
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--dhcp-option=option:domain-search,example.org"), argv.end());
  plan.nets.networks.at(0).dns_search = "bad domain";
  EXPECT_THROW(dnsmasq_argv(job_dnsmasq(plan)), Error);
}

TEST(NodeJobGolden, NftBatchWithAnotherJobOnTheNode) {
  const auto plan = job_4242();
  NodeTable t;
  t.reverse_nat = job_nat_rules(plan, {60222, 60223}, 22);
  t.reverse_nat.push_back({4243, 0, 60224, 0x0afb0402, 22});  // job 4243's vm0, already here
  t.vm_jobs = 2;
  // Job 4242's network allows outbound connections (allow-outbound: external, with a proxy
  // listed on the node's own network); 4243's allows only a licence server.
  OutboundRule out4242{4242, plan.subnet, {{Ipv4Cidr::parse("10.99.0.1/32"), "tcp", 3128, 3128}}, true,
                       {Ipv4Cidr::parse("10.0.0.0/8"), Ipv4Cidr::parse("192.168.0.0/16")}};
  OutboundRule out4243{4243, Ipv4Cidr::parse("10.251.4.0/24"), {{Ipv4Cidr::parse("192.0.2.7/32"), "udp", 27000, 27009},
                                                                {Ipv4Cidr::parse("192.0.2.8/32"), "", 0, 0}},
                       false, {}};
  t.outbound = {out4243, out4242};
  t.owners = {{4243, 1001}, {4242, 1000}};
  // Job 4242's DHCP/DNS server forwards other names to the site's dns-server.
  t.dns = {{4242, plan.dns_ip, 0x0a630035}};  // 10.99.0.53
  t.node_networks = {Ipv4Cidr::parse("10.99.0.0/24"), Ipv4Cidr::parse("10.99.0.1/32"),
                     Ipv4Cidr::parse("127.0.0.0/8"), Ipv4Cidr::parse("10.99.0.1/32")};
  t.forward_only_vms = true;
  t.bridged = {{4243, 1, "svm1093.2001", bridged_mac(4243, 2, 1)}};  // job 4243's vm1 on br-lan
  expect_golden("job-4242-nodeA/nft-batch.nft", nat_table_batch(t));
}

TEST(NodeJobGolden, VmsJson) {
  expect_golden("job-4242-nodeA/vms.json", vms_json(job_4242(), {60222, 60223}).dump(2) + "\n");
}

// Job 4243: vm0 (master, `cluster`: eth0 nat-rssh, eth1 private) and vm1 (compute,
// `cluster-lan`: the same, then eth2 on the host bridge br-lan) here, vm2 on nodeB.
TEST(NodeJobGolden, SeveralNetworksOvsdbTransaction) {
  const auto ops = ovsdb_ops::add_ports("br-int", job_port_specs(job_4243()), ovsdb_comment(4243));
  expect_golden("job-4243-nodeA-networks/ovsdb-add-ports.json", ops.dump(2) + "\n");
}

TEST(NodeJobGolden, SeveralNetworksFlowTable) {
  const auto in = job_on_node_a("4243", "cluster,cluster-lan");
  expect_golden("job-4243-nodeA-networks/flows.txt",
                job_flows(job_networks(plan_for(in), in.nodes, "svm-gre", kNodeIps)));
}

TEST(NodeJobGolden, SeveralNetworksVmsJson) {
  expect_golden("job-4243-nodeA-networks/vms.json", vms_json(job_4243(), {60225, 60226}).dump(2) + "\n");
}

TEST(NodeJobGolden, SeveralNetworksPlan) {
  const auto plan = job_4243();
  ASSERT_EQ(plan.nets.networks.size(), 3u);
  EXPECT_EQ(plan.nets.networks[1].name, "private");
  EXPECT_EQ(plan.nets.networks[1].kind, NetKind::l2);
  EXPECT_EQ(plan.nets.networks[2].kind, NetKind::bridged);
  ASSERT_EQ(plan.local.size(), 2u);
  ASSERT_EQ(plan.local[1].nics.size(), 3u);
  EXPECT_EQ(plan.local[1].nics[0].tap, "svm1093.1");
  EXPECT_EQ(plan.local[1].nics[1].tap, "svm1093.1001");
  EXPECT_EQ(plan.local[1].nics[2].tap, "svm1093.2001");
  // One VM's NICs never share a MAC; the L3 NIC's is the address plan's.
  EXPECT_NE(plan.local[1].nics[0].mac, plan.local[1].nics[1].mac);
  EXPECT_NE(plan.local[1].nics[1].mac, plan.local[1].nics[2].mac);
  EXPECT_EQ(plan.local[1].nics[0].mac, plan.nets.address_plan().vm(plan.network_id, 1).mac);
  // Bridged NICs are no OVS ports; the L2 segment has its own GRE key.
  for (const auto& spec : job_port_specs(plan)) EXPECT_NE(spec.name, "svm1093.2001");
  const auto nets = job_networks(plan, {"nodeA", "nodeB"}, "svm-gre", kNodeIps);
  ASSERT_EQ(nets.size(), 2u);
  EXPECT_EQ(nets[0].tunnel_key, 4243u);
  EXPECT_EQ(nets[1].tunnel_key, (1u << 28) | 4243u);
  EXPECT_TRUE(nets[1].l2);
  EXPECT_EQ(underlay_names(plan, {"nodeA", "nodeB"}), std::vector<std::string>{"nodeB"});
}

TEST(NodeJobGolden, RemoteNodeWithoutAddressIsAnInternalError) {
  const auto in = job_on_node_a("4242", std::nullopt);
  const auto plan = plan_for(in);
  EXPECT_THROW(job_networks(plan, in.nodes, "svm-gre", {}), Error);
  EXPECT_THROW(job_nat_rules(plan, {60222}, 22), Error);
  EXPECT_TRUE(job_nat_rules(plan, {}, 22).empty());
}
