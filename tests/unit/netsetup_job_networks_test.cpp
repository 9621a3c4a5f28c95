// A job's networks from its VMs' resource sets (netsetup/job_networks.hpp), against the
// repository's example configuration (templates/) plus the sets each case needs.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <string>
#include <vector>

#include "cluster_def.hpp"
#include "config/config.hpp"
#include "job_names.hpp"
#include "netsetup/job_networks.hpp"
#include "netsetup/node_plan.hpp"

using namespace slurmvm;
using namespace slurmvm::netsetup;
using testing::HasSubstr;

namespace {

config::Config example() {
  auto cfg = config::load_config(
      config::ConfigDirs{std::filesystem::path(SLURM_VM_TEST_DATA) / "../../templates", std::nullopt});
  auto add_net = [&](const std::string& name, config::NetworkSettings s) {
    cfg.networks.emplace(name, config::Network{name, {}, 0, std::move(s)});
  };
  auto add_set = [&](const std::string& name, std::vector<std::string> nets) {
    cfg.resource_sets.emplace(name, config::ResourceSet{name, std::move(nets), false, {}, 0});
  };
  config::EthernetNetwork nat2;
  nat2.dev_prefix = "n2";
  add_net("nat2", nat2);
  add_net("ib", config::InfinibandNetwork{"mlx5_0", 0x2000, 0x3000, "opensm", "/x", "/y", std::nullopt});
  add_net("lan", config::BridgedNetwork{"br0", "", 9000, {}});
  add_net("hostib", config::HostInfinibandNetwork{"mlx5_1"});
  config::GenericPciNetwork gpu;
  gpu.host_device_addrs = {*config::parse_pci_address("0000:af:00"), *config::parse_pci_address("0000:b0:00.0")};
  gpu.host_driver = "nvidia";
  add_net("gpu", gpu);
  add_set("l2-only", {"private"});
  add_set("two-l3", {"nat-rssh", "nat2"});
  add_set("other-l3", {"nat2"});
  add_set("with-ib", {"nat-rssh", "ib"});
  add_set("twice", {"private", "private"});
  add_set("ib-twice", {"ib", "nat-rssh", "ib"});
  add_set("all-devices", {"gpu", "hostib", "ib", "private"});
  add_set("lan-first", {"lan", "nat-rssh", "private"});
  return cfg;
}

JobNetworks choose(const std::string& def, const std::vector<std::string>& sets) {
  return choose_job_networks(example(), ClusterDef::parse(def), sets);
}

std::string job_error(const std::string& def, const std::vector<std::string>& sets) {
  try {
    choose(def, sets);
  } catch (const JobError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not a JobError: ") + e.what();
  }
  return "no error";
}

}  // namespace

TEST(JobNetworks, NoResourceSetsMeansTheDefaultForEveryVm) {
  const auto n = choose("a:2,b:1", {});
  ASSERT_EQ(n.networks.size(), 1u);
  EXPECT_EQ(n.networks[0].name, "nat-rssh");
  EXPECT_EQ(n.networks[0].kind, NetKind::l3);
  EXPECT_EQ(n.networks[0].tap_mtu, 1450u);  // mtu 1500 - GRE
  EXPECT_TRUE(n.networks[0].reverse_nat);
  EXPECT_EQ(n.l3, 0u);
  EXPECT_EQ(n.nics_of_rank, (std::vector<std::vector<std::uint32_t>>{{0}, {0}, {0}}));
  EXPECT_EQ(n.resource_set_of_rank, (std::vector<std::string>{"default", "default", "default"}));
}

TEST(JobNetworks, NetworksAreNumberedByFirstUseAndNicsFollowTheirSet) {
  const auto n = choose("m:1,c:2", {"l2-only", "lan-first"});
  ASSERT_EQ(n.networks.size(), 3u);
  EXPECT_EQ(n.networks[0].name, "private");
  EXPECT_EQ(n.networks[0].kind, NetKind::l2);
  EXPECT_EQ(n.networks[1].name, "lan");
  EXPECT_EQ(n.networks[1].kind, NetKind::bridged);
  EXPECT_EQ(n.networks[1].tap_mtu, 9000u);  // the host LAN's own MTU, no tunnel
  EXPECT_EQ(n.networks[1].host_bridge, "br0");
  EXPECT_EQ(n.networks[2].name, "nat-rssh");
  EXPECT_EQ(n.l3, 2u);
  EXPECT_EQ(n.nics_of_rank[0], (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(n.nics_of_rank[2], (std::vector<std::uint32_t>{1, 2, 0}));
}

TEST(JobNetworks, WhatAJobCannotHaveIsTheJobsError) {
  EXPECT_THAT(job_error("a:1", {"nope"}), HasSubstr("resource set \"nope\" is not defined"));
  EXPECT_THAT(job_error("a:1,b:1", {"default"}), HasSubstr("names 1 resource sets for the 2 groups"));
  EXPECT_THAT(job_error("a:1", {"two-l3"}), HasSubstr("two L3 networks, nat-rssh and nat2"));
  EXPECT_THAT(job_error("a:1,b:1", {"default", "other-l3"}), HasSubstr("two L3 networks"));
  EXPECT_THAT(job_error("a:1", {"ib-twice"}), HasSubstr("names network ib twice"));
  EXPECT_THAT(job_error("a:1", {"twice"}), HasSubstr("names network private twice"));
}

// Passthrough networks give each VM on them a device, not a NIC: eth0 is the first NIC network
// of the set, and they count against no GRE key.
TEST(JobNetworks, PassthroughNetworksAreDevicesNotNics) {
  const auto n = choose("m:1,c:2", {"with-ib", "all-devices"});
  ASSERT_EQ(n.networks.size(), 2u);
  EXPECT_EQ(n.networks[0].name, "nat-rssh");
  EXPECT_EQ(n.networks[1].name, "private");
  EXPECT_EQ(n.nics_of_rank[0], (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(n.nics_of_rank[1], (std::vector<std::uint32_t>{1}));
  ASSERT_EQ(n.passthrough.size(), 3u);
  EXPECT_EQ(n.passthrough[0].name, "ib");
  EXPECT_EQ(n.passthrough[0].kind, PassthroughKind::infiniband);
  EXPECT_EQ(n.passthrough[0].host_device, "mlx5_0");
  EXPECT_EQ(n.passthrough[0].min_pkey, 0x2000);
  EXPECT_EQ(n.passthrough[0].max_pkey, 0x3000);
  EXPECT_EQ(n.passthrough[1].name, "gpu");
  EXPECT_EQ(n.passthrough[1].kind, PassthroughKind::generic_pci);
  EXPECT_EQ(n.passthrough[1].device_addrs, (std::vector<std::string>{"0000:af:00", "0000:b0:00.0"}));
  EXPECT_EQ(n.passthrough[1].host_driver, "nvidia");
  EXPECT_EQ(n.passthrough[2].kind, PassthroughKind::host_infiniband);
  EXPECT_EQ(n.passthrough[2].host_device, "mlx5_1");
  EXPECT_EQ(n.devices_of_rank, (std::vector<std::vector<std::uint32_t>>{{0}, {1, 2, 0}, {1, 2, 0}}));
  EXPECT_EQ(to_string(PassthroughKind::host_infiniband), "host-infiniband");
}

TEST(JobNetworks, KeysAndMacsOfNetworkK) {
  // The whole job id, k in the top bits: jobs 4242 and 4242 + 2047, whose network ids collided
  // under the old `job id % 2047` keys, never share a key.
  EXPECT_EQ(network_key(4242, 0), 4242u);
  EXPECT_EQ(network_key(4242, 3), (3u << 28) | 4242u);
  EXPECT_NE(network_key(4242, 0), network_key(4242 + 2047, 0));
  EXPECT_EQ(network_key(kMaxTunnelJobId, 15), 0xffffffffu);
  EXPECT_THROW(network_key(kMaxTunnelJobId + 1, 0), Error);
  EXPECT_THROW(network_key(0, 0), Error);
  const MacAddress base{0x52, 0x54, 0x00, 0x09, 0x60, 0x01};
  EXPECT_EQ(nic_mac(base, 0), base);
  EXPECT_EQ(nic_mac(base, 2), (MacAddress{0x52, 0x54, 0x02, 0x09, 0x60, 0x01}));
  // Bridged: job id, k, rank, locally administered unicast.
  EXPECT_EQ(bridged_mac(0x1093, 2, 1), (MacAddress{0x42, 0x00, 0x10, 0x93, 0x20, 0x01}));
  const auto big = bridged_mac(0x3feffff, 15, 0xfff);
  EXPECT_EQ(big[0] & 0x03, 0x02);
  EXPECT_NE(bridged_mac(4242, 0, 1), bridged_mac(4242 + 2047, 0, 1));  // network ids repeat; MACs do not
}

TEST(JobNetworks, TapNamesPerNic) {
  EXPECT_EQ(tap_name(0x2a, 3), "svm2a.3");
  EXPECT_EQ(tap_name(0x2a, 3, 1), "svm2a.1003");
  EXPECT_EQ(tap_name(0x3feffff, 0xffc, 15), "svm3feffff.fffc");
  EXPECT_EQ(tap_name(0xfffffffe, 0xffc, 0), "svmfffffffe.ffc");
  EXPECT_THROW(tap_name(0xfffffffe, 1, 1), Error);
  EXPECT_THROW(tap_name(1, 1, 16), Error);
}

TEST(JobNetworks, SpankResourcesAreNamesOnePerGroup) {
  std::map<std::string, std::string> env = {{"SLURM_JOB_ID", "7"}, {"SLURM_JOB_UID", "1000"},
                                            {"SLURMD_NODENAME", "n1"}, {"SLURM_JOB_NODELIST", "n1"},
                                            {"SLURM_JOB_CPUS_PER_NODE", "4"}, {"SPANK_VM_TEMPLATE", "a:1,b:2"},
                                            {"SPANK_VM_RESOURCES", "default,cluster"}};
  auto lookup = [&](const std::string& name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  EXPECT_EQ(parse_job_inputs(lookup).resource_sets, (std::vector<std::string>{"default", "cluster"}));
  for (const char* bad : {"default", "default,cluster,x", "default,", "de fault,x", "default,../x"}) {
    env["SPANK_VM_RESOURCES"] = bad;
    EXPECT_THROW(parse_job_inputs(lookup), JobError) << bad;
  }
  env.erase("SPANK_VM_RESOURCES");
  EXPECT_TRUE(parse_job_inputs(lookup).resource_sets.empty());
}

// allow-outbound into the job's outbound rule: nothing with `none`; with `all` never this
// network, link-local (a cloud node's metadata service) or multicast, nor the site's
// cluster-networks; `external` not the private ranges either; a list only what it lists.
TEST(JobNetworks, OutboundRuleFromAllowOutbound) {
  auto with = [](config::AllowOutbound mode, std::vector<config::OutboundAllow> allow = {}) {
    auto cfg = example();
    auto& eth = std::get<config::EthernetNetwork>(cfg.networks.at("nat-rssh").settings);
    eth.allow_outbound = mode;
    eth.outbound_allow = std::move(allow);
    eth.cluster_networks = {{0x0A4D0000, 16}};  // 10.77.0.0/16
    return choose_job_networks(cfg, ClusterDef::parse("a:1"), {}).outbound_rule(42, Ipv4Cidr::parse("10.251.4.0/22"));
  };
  EXPECT_FALSE(with(config::AllowOutbound::none));
  const auto all = with(config::AllowOutbound::all);
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->anywhere);
  std::vector<std::string> deny;
  for (const auto& d : all->deny) deny.push_back(d.to_string());
  EXPECT_EQ(deny, (std::vector<std::string>{"0.0.0.0/8", "169.254.0.0/16", "224.0.0.0/3", "10.77.0.0/16"}));
  const auto external = with(config::AllowOutbound::external);
  ASSERT_TRUE(external);
  EXPECT_EQ(external->deny.size(), deny.size() + 5);
  const auto list = with(config::AllowOutbound::list, {{{0xC0000207, 32}, config::OutboundProto::tcp, 3128, 3128}});
  ASSERT_TRUE(list);
  EXPECT_FALSE(list->anywhere);
  EXPECT_TRUE(list->deny.empty());
  ASSERT_EQ(list->allow.size(), 1u);
  EXPECT_EQ(list->allow[0].to.to_string(), "192.0.2.7/32");
  EXPECT_EQ(list->allow[0].proto, "tcp");
}

// pcocc's addressing keys reach the plan: int-network (cut in /vm-subnet-prefix), mac-prefix
// (padded to 3 octets) and dns-search (DHCP option 119 of the job's dnsmasq).
TEST(JobNetworks, AddressingKeysReachThePlan) {
  auto cfg = example();
  auto& eth = std::get<config::EthernetNetwork>(cfg.networks.at("nat-rssh").settings);
  eth.int_network = {0xAC100000, 12};  // 172.16.0.0/12
  eth.vm_subnet_prefix = 24;
  eth.mac_prefix = {{0x0a, 0xbc, 0, 0}, 2};
  eth.dns_search = "example.org";
  const auto nets = choose_job_networks(cfg, ClusterDef::parse("a:2"), {});
  const auto plan = nets.address_plan();
  EXPECT_EQ(plan.max_network_id(), 4095u);  // 2^12 subnets, capped by the MAC's 12 bits
  const auto vm1 = plan.vm(7, 1);
  EXPECT_EQ(format_ipv4(vm1.ip), "172.16.7.3");
  EXPECT_EQ(vm1.prefix, 24u);
  EXPECT_EQ(format_mac(vm1.mac), "0a:bc:00:00:70:01");
  ASSERT_TRUE(nets.l3_network()->dns_search);
  EXPECT_EQ(*nets.l3_network()->dns_search, "example.org");
}
