// networks.yaml: every type, its defaults and limits, and the address parsers behind them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/net_addresses.hpp"
#include "config/network.hpp"
#include "networks_fixture.hpp"
#include "error.hpp"

using slurmvm::Error;
using namespace slurmvm::config;
using namespace slurmvm::test;
using testing::StrEq;
using testing::ThrowsMessage;


TEST(ConfigNetworks, EthernetDefaults) {
  const auto nets = networks("n: {type: eth, settings: {dev-prefix: n}}");
  const Network& n = nets.at("n");
  EXPECT_EQ(n.type_name(), "ethernet");
  EXPECT_EQ(n.file, "networks.yaml");
  EXPECT_EQ(n.line, 1);
  const auto& eth = std::get<EthernetNetwork>(n.settings);
  EXPECT_EQ(eth.dev_prefix, "n");
  EXPECT_EQ(eth.network_layer, NetworkLayer::l3);
  EXPECT_EQ(eth.int_network.str(), "10.200.0.0/16");
  EXPECT_EQ(eth.ext_network.str(), "10.201.0.0/16");
  EXPECT_EQ(eth.mac_prefix.str(), "52:54:00");
  EXPECT_EQ(eth.mac_start_offset, 0u);
  EXPECT_EQ(eth.mtu, 1500);
  EXPECT_EQ(eth.host_if_suffix, "");
  // Unlike pcocc's, slurm-vm's default lets VMs reach nothing through their node.
  EXPECT_EQ(eth.allow_outbound, AllowOutbound::none);
  EXPECT_TRUE(eth.cluster_networks.empty());
  EXPECT_EQ(default_vm_subnet_prefix(eth.int_network), 22);
  EXPECT_EQ(default_vm_subnet_prefix(Ipv4Network{0x0A800000, 9}), 20);
  EXPECT_EQ(default_vm_subnet_prefix(Ipv4Network{0x0A000000, 20}), 24);
  EXPECT_EQ(default_vm_subnet_prefix(Ipv4Network{0x0A000000, 24}), 28);
  EXPECT_TRUE(eth.manage_ip_forward);
  EXPECT_FALSE(eth.reverse_nat);
  EXPECT_FALSE(eth.domain_name);
}

TEST(ConfigNetworks, EthernetEverySetting) {
  const auto nets = networks(R"(
n:
  type: ethernet
  settings:
    dev-prefix: nat_1
    network-layer: L2
    int-network: 10.1.0.0/24
    ext-network: 10.2.0.0/16
    mac-prefix: 0A:bc
    mac-start-offset: 256
    mtu: 9000
    host-if-suffix: -ib
    domain-name: vm.example.org
    dns-search: example.org
    dns-server: 10.0.0.53
    ntp-server: ntp.example.org
    allow-outbound: none
    manage-ip-forward: false
    gateway: local-nat
    reverse-nat: {vm-port: 22, min-host-port: 60000, max-host-port: 60000}
)");
  const auto& eth = std::get<EthernetNetwork>(nets.at("n").settings);
  EXPECT_EQ(eth.network_layer, NetworkLayer::l2);
  EXPECT_EQ(eth.int_network.str(), "10.1.0.0/24");
  EXPECT_EQ(eth.mac_prefix.str(), "0a:bc");
  EXPECT_EQ(eth.mac_start_offset, 256u);
  EXPECT_EQ(eth.mtu, 9000);
  EXPECT_EQ(eth.host_if_suffix, "-ib");
  EXPECT_EQ(eth.dns_server, "10.0.0.53");
  EXPECT_EQ(eth.allow_outbound, AllowOutbound::none);
  EXPECT_FALSE(eth.manage_ip_forward);
  ASSERT_TRUE(eth.reverse_nat);
  EXPECT_EQ(eth.reverse_nat->vm_port, 22);
  EXPECT_EQ(eth.reverse_nat->min_host_port, 60000);
  EXPECT_EQ(to_string(eth.network_layer), "L2");
}

TEST(ConfigNetworks, EthernetLimits) {
  EXPECT_EQ(error_of("n: {type: eth, settings: {}}"),
            "networks.yaml:1: n.settings: missing required key \"dev-prefix\"");
  EXPECT_EQ(error_of("n: {type: eth}"),
            "networks.yaml:1: n.settings: missing required key \"dev-prefix\"");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: toolong12}}"),
            "networks.yaml:1: n.settings.dev-prefix: expected 1 to 8 letters, digits or '_', "
            "starting with a letter, got \"toolong12\"");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: a-b}}"),
            "networks.yaml:1: n.settings.dev-prefix: expected 1 to 8 letters, digits or '_', "
            "starting with a letter, got \"a-b\"");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, network-layer: L4}}"),
            "networks.yaml:1: n.settings.network-layer: expected one of L2 or L3, got \"L4\"");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, int-network: 10.0.0.0}}"),
            "networks.yaml:1: n.settings.int-network: expected an IPv4 network in CIDR notation "
            "(a.b.c.d/n), got \"10.0.0.0\"");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, int-network: 10.0.0.300/16}}"),
            "networks.yaml:1: n.settings.int-network: expected an IPv4 network in CIDR notation "
            "(a.b.c.d/n), got \"10.0.0.300/16\"");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, int-network: 10.0.0.1/16}}"),
            "networks.yaml:1: n.settings.int-network: 10.0.0.1/16 has host bits set (did you mean "
            "10.0.0.0/16?)");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, int-network: 10.0.0.0/31}}"),
            "networks.yaml:1: n.settings.int-network: 10.0.0.0/31: the prefix length must be "
            "between 8 and 30");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, int-network: 10.0.0.0/16, "
                     "ext-network: 10.1.0.0/24}}"),
            "networks.yaml:1: n.settings.ext-network: ext-network 10.1.0.0/24 is smaller than "
            "int-network 10.0.0.0/16 (each VM needs one external address)");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, int-network: 10.201.0.0/24}}"),
            "networks.yaml:1: n.settings.int-network: ext-network 10.201.0.0/16 overlaps "
            "int-network 10.201.0.0/24");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, mac-prefix: '52:54:0'}}"),
            "networks.yaml:1: n.settings.mac-prefix: expected 1 to 4 hexadecimal octets separated "
            "by ':' (52:54:00), got \"52:54:0\"");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, mac-prefix: '01:00'}}"),
            "networks.yaml:1: n.settings.mac-prefix: the first octet must be even (a unicast "
            "address)");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, mac-prefix: '52:54:00:01', "
                     "mac-start-offset: 65536}}"),
            "networks.yaml:1: n.settings.mac-start-offset: mac-start-offset 65536 does not fit in "
            "the 2 octets after mac-prefix 52:54:00:01");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, mac-prefix: '52:54:00:01'}}"),
            "networks.yaml:1: n.settings: mac-prefix 52:54:00:01 leaves fewer than the 3 octets slurm-vm's "
            "MACs need (network id, VM rank)");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, int-network: 10.1.0.0/24, vm-subnet-prefix: 20}}"),
            "networks.yaml:1: n.settings.int-network: int-network 10.1.0.0/24 cannot be cut into /20 job "
            "subnets (vm-subnet-prefix)");
  EXPECT_EQ(
      error_of("n: {type: eth, settings: {dev-prefix: n, mtu: 100}}"),
      "networks.yaml:1: n.settings.mtu: expected an integer between 576 and 65535, got \"100\"");
  EXPECT_EQ(
      error_of("n: {type: eth, settings: {dev-prefix: n, dns-server: dns.example.org}}"),
      "networks.yaml:1: n.settings.dns-server: expected an IPv4 address, got \"dns.example.org\"");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, gateway: remote}}"),
            "networks.yaml:1: n.settings.gateway: expected local-nat, got \"remote\"");
  EXPECT_EQ(
      error_of("n: {type: eth, settings: {dev-prefix: n, allow-outbound: some}}"),
      "networks.yaml:1: n.settings.allow-outbound: expected one of none, all or external, got \"some\"");
}

TEST(ConfigNetworks, ReverseNat) {
  EXPECT_EQ(
      error_of("n: {type: eth, settings: {dev-prefix: n, reverse-nat: {vm-port: 22, "
               "min-host-port: 60322, max-host-port: 60222}}}"),
      "networks.yaml:1: n.settings.reverse-nat.max-host-port: 60222 is below min-host-port 60322");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, reverse-nat: {vm-port: 0, "
                     "min-host-port: 1, max-host-port: 2}}}"),
            "networks.yaml:1: n.settings.reverse-nat.vm-port: expected an integer between 1 and "
            "65535, got \"0\"");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, reverse-nat: {vm-port: 22, "
                     "min-host-port: 1024}}}"),
            "networks.yaml:1: n.settings.reverse-nat: missing required key \"max-host-port\"");
  // A VM answering from a reserved port of its node would pass for a privileged service.
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, reverse-nat: {vm-port: 22, "
                     "min-host-port: 1023, max-host-port: 2000}}}"),
            "networks.yaml:1: n.settings.reverse-nat.min-host-port: 1023 is a privileged port: VMs would "
            "answer from a reserved port of their node (use 1024 or more)");
}

TEST(ConfigNetworks, NetworksMustNotShareHostResources) {
  EXPECT_EQ(error_of("a: {type: eth, settings: {dev-prefix: x}}\n"
                     "b: {type: eth, settings: {dev-prefix: x}}\n"),
            "networks.yaml:2: b.settings.dev-prefix: dev-prefix \"x\" is already used at "
            "networks.yaml:1");
  EXPECT_EQ(error_of("a: {type: eth, settings: {dev-prefix: a, reverse-nat: {vm-port: 22, "
                     "min-host-port: 1100, max-host-port: 1200}}}\n"
                     "b: {type: eth, settings: {dev-prefix: b, ext-network: 10.9.0.0/16, "
                     "reverse-nat: {vm-port: 80, min-host-port: 1200, max-host-port: 1300}}}\n"),
            "networks.yaml:2: b.settings.reverse-nat: host ports 1200-1300 overlap host ports "
            "1100-1200 used at networks.yaml:1");
  EXPECT_EQ(error_of("a: {type: bridged, settings: {host-bridge: br0, tap-prefix: t}}\n"
                     "b: {type: bridged, settings: {host-bridge: br1, tap-prefix: t}}\n"),
            "networks.yaml:2: b.settings.tap-prefix: tap-prefix \"t\" is already used at "
            "networks.yaml:1");
}

TEST(ConfigNetworks, Bridged) {
  const auto nets = networks(
      "b: {type: bridged-ethernet, settings: {host-bridge: br0, tap-prefix: btap, "
      "vlans: [{vid: 12, type: native}, {vid: 13}, {vid: 14, type: untagged}]}}");
  const auto& b = std::get<BridgedNetwork>(nets.at("b").settings);
  EXPECT_EQ(nets.at("b").type_name(), "bridged");
  EXPECT_EQ(b.mtu, 1500);
  ASSERT_EQ(b.vlans.size(), 3u);
  EXPECT_EQ(b.vlans[0].mode, VlanMode::native);
  EXPECT_EQ(b.vlans[1].mode, VlanMode::tagged);
  EXPECT_EQ(to_string(b.vlans[2].mode), "untagged");
  const std::string base = "b: {type: bridged, settings: {host-bridge: br0, tap-prefix: t, ";
  EXPECT_EQ(error_of(base + "vlans: [{vid: 4095}]}}"),
            "networks.yaml:1: b.settings.vlans[0].vid: expected an integer between 1 and 4094, got "
            "\"4095\"");
  EXPECT_EQ(error_of(base + "vlans: [{vid: 5}, {vid: 5}]}}"),
            "networks.yaml:1: b.settings.vlans[1]: vlan 5 is listed twice");
  EXPECT_EQ(error_of(base + "vlans: [{vid: 5, type: native}, {vid: 6, type: native}]}}"),
            "networks.yaml:1: b.settings.vlans[1]: only one vlan can be native");
  EXPECT_EQ(
      error_of("b: {type: bridged, settings: {host-bridge: a-very-long-bridge, tap-prefix: t}}"),
      "networks.yaml:1: b.settings.host-bridge: expected an interface name, got "
      "\"a-very-long-bridge\"");
  EXPECT_EQ(error_of("b: {type: bridged, settings: {host-bridge: br0, tap-prefix: abcdefghijklm}}"),
            "networks.yaml:1: b.settings.tap-prefix: expected an interface name prefix of 1 to 12 "
            "characters, got \"abcdefghijklm\"");
}

TEST(ConfigNetworks, TypesNamesAndKeys) {
  EXPECT_EQ(error_of("n: {type: nat, settings: {}}"),
            "networks.yaml:1: n.type: deprecated pcocc network type \"nat\" is not supported; use "
            "type ethernet with network-layer L3");
  EXPECT_EQ(error_of("n: {type: pv, settings: {}}"),
            "networks.yaml:1: n.type: deprecated pcocc network type \"pv\" is not supported; use "
            "type ethernet with network-layer L2");
  EXPECT_EQ(error_of("n: {type: xxx}"),
            "networks.yaml:1: n.type: expected one of ethernet, eth, infiniband, ib, "
            "host-infiniband, hostib, bridged, bridged-ethernet or genericpci, got \"xxx\"");
  EXPECT_EQ(error_of("n: {settings: {}}"), "networks.yaml:1: n: missing required key \"type\"");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, foo: 1}}"),
            "networks.yaml:1: n.settings.foo: unknown key; expected one of: dev-prefix, "
            "network-layer, int-network, ext-network, mac-prefix, mac-start-offset, mtu, "
            "host-if-suffix, domain-name, dns-search, dns-server, ntp-server, allow-outbound, "
            "cluster-networks, vm-subnet-prefix, manage-ip-forward, reverse-nat, gateway");
  EXPECT_EQ(error_of("n: {type: eth, setting: {}}"),
            "networks.yaml:1: n.setting: unknown key, did you mean \"settings\"?");
  EXPECT_EQ(error_of("1net: {type: eth}"),
            "networks.yaml:1: 1net: invalid network name (expected a letter, then letters, digits, "
            "'_' or '-')");
  EXPECT_EQ(error_of("- a\n- b\n"), "networks.yaml:1: expected a mapping, got a list");
  EXPECT_TRUE(networks("").empty());
}

TEST(ConfigNetworks, AllowOutboundForms) {
  const auto nets = networks(R"(
a: {type: eth, settings: {dev-prefix: a, allow-outbound: all, cluster-networks: [10.77.0.0/16]}}
b: {type: eth, settings: {dev-prefix: b, ext-network: 10.9.0.0/16, allow-outbound: external}}
c:
  type: eth
  settings:
    dev-prefix: c
    ext-network: 10.10.0.0/16
    allow-outbound:
      - {to: 192.0.2.10/32, proto: tcp, ports: 3128}
      - {to: 192.0.2.0/24, proto: udp, ports: 27000-27009}
      - {to: 198.51.100.0/24}
)");
  const auto& a = std::get<EthernetNetwork>(nets.at("a").settings);
  EXPECT_EQ(a.allow_outbound, AllowOutbound::all);
  ASSERT_EQ(a.cluster_networks.size(), 1u);
  EXPECT_EQ(a.cluster_networks[0].str(), "10.77.0.0/16");
  EXPECT_EQ(std::get<EthernetNetwork>(nets.at("b").settings).allow_outbound, AllowOutbound::external);
  const auto& c = std::get<EthernetNetwork>(nets.at("c").settings);
  EXPECT_EQ(c.allow_outbound, AllowOutbound::list);
  ASSERT_EQ(c.outbound_allow.size(), 3u);
  EXPECT_EQ(c.outbound_allow[0].proto, OutboundProto::tcp);
  EXPECT_EQ(c.outbound_allow[0].min_port, 3128);
  EXPECT_EQ(c.outbound_allow[0].max_port, 3128);
  EXPECT_EQ(c.outbound_allow[1].min_port, 27000);
  EXPECT_EQ(c.outbound_allow[1].max_port, 27009);
  EXPECT_EQ(c.outbound_allow[2].proto, OutboundProto::any);
  EXPECT_EQ(c.outbound_allow[2].to.str(), "198.51.100.0/24");

  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, allow-outbound: [{to: 192.0.2.0/24, ports: 80}]}}"),
            "networks.yaml:1: n.settings.allow-outbound[0].ports: ports need proto: tcp or proto: udp");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, allow-outbound: [{to: 192.0.2.1/24}]}}"),
            "networks.yaml:1: n.settings.allow-outbound[0].to: 192.0.2.1/24 has host bits set (did you mean "
            "192.0.2.0/24?)");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, allow-outbound: [{to: 192.0.2.0/24, proto: tcp, "
                     "ports: 90-80}]}}"),
            "networks.yaml:1: n.settings.allow-outbound[0].ports: 90-80 is an empty range");
  EXPECT_EQ(error_of("n: {type: eth, settings: {dev-prefix: n, allow-outbound: [{to: 192.0.2.0/24, proto: gre}]}}"),
            "networks.yaml:1: n.settings.allow-outbound[0].proto: expected one of tcp, udp or icmp, got \"gre\"");
}
