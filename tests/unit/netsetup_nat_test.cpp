// The nftables generator (golden text), listening-port parsing (/proc/net/tcp, sock_diag) and
// host-port allocation.
#include <gtest/gtest.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "error.hpp"
#include "addressing.hpp"
#include "netsetup/nat.hpp"
#include "netsetup/sock_diag.hpp"

using namespace slurmvm::netsetup;
using slurmvm::Error;

TEST(NatTable, NoVmJobDeletesTheTable) {
  EXPECT_EQ(nat_table_batch({}, 0),
            "add table ip slurm_vm\ndelete table ip slurm_vm\nadd table bridge slurm_vm\ndelete table bridge slurm_vm\n");
}

TEST(NatTable, VmJobsWithoutReverseNatStillGetTheFilter) {
  const std::string text = nat_table_batch({}, 1);
  EXPECT_NE(text.find("    iifname \"svm*\" drop\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("dnat to"), std::string::npos) << text;
}

// The exact text is pinned in tests/data/golden/job-4242-nodeA/nft-batch.nft
// (node_job_golden_test.cpp); here, that it depends only on the set of rules.
TEST(NatTable, SortedWhateverTheInputOrder) {
  const std::vector<NatRule> rules = {
      {4243, 0, 60224, 0x0a800202, 22},
      {4242, 1, 60223, 0x0a808003, 22},
      {4242, 0, 60222, 0x0a808002, 22},
  };
  std::vector<NatRule> reversed(rules.rbegin(), rules.rend());
  const std::string text = nat_table_batch(rules, 2);
  EXPECT_EQ(nat_table_batch(reversed, 2), text);
  EXPECT_LT(text.find("job 4242 vm0"), text.find("job 4242 vm1"));
  EXPECT_LT(text.find("job 4242 vm1"), text.find("job 4243 vm0"));
}

TEST(ProcNetTcp, ListeningPortsOnly) {
  const char* tcp =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0 100 0 0 10 0\n"
      "   1: 0100007F:EAE6 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1235 1 0 100 0 0 10 0\n"
      "   2: 0B00E90A:EAE7 0C00E90A:0016 01 00000000:00000000 00:00000000 00000000  1000        0 1236 1 0 20 4 30 10 -1\n"
      "garbage line\n"
      "   3: 0100007F:zzzz 00000000:0000 0A\n";
  EXPECT_EQ(parse_listening_ports(tcp), (std::set<std::uint16_t>{22, 60134}));
  const char* tcp6 =
      "  sl  local_address                         remote_address                        st\n"
      "   0: 00000000000000000000000000000000:EAE8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1 0 100 0 0 10 0";
  EXPECT_EQ(parse_listening_ports(tcp6), (std::set<std::uint16_t>{60136}));
  EXPECT_TRUE(parse_listening_ports("").empty());
}

// A sock_diag dump as the kernel sends it: inet_diag_msg records (ports in network order), then
// NLMSG_DONE; an error record is an Error, not an empty answer.
namespace {
void append_diag_record(std::vector<unsigned char>& dump, std::uint16_t type, const void* payload, std::size_t len) {
  nlmsghdr h{};
  h.nlmsg_len = static_cast<std::uint32_t>(NLMSG_HDRLEN + len);
  h.nlmsg_type = type;
  h.nlmsg_flags = NLM_F_MULTI;
  const std::size_t at = dump.size();
  dump.resize(at + NLMSG_ALIGN(h.nlmsg_len));
  std::memcpy(dump.data() + at, &h, sizeof h);
  if (len > 0) std::memcpy(dump.data() + at + NLMSG_HDRLEN, payload, len);
}
}  // namespace

TEST(SockDiag, LocalPortsOfTheDump) {
  std::vector<unsigned char> dump;
  for (const std::uint16_t port : {std::uint16_t{22}, std::uint16_t{60134}}) {
    inet_diag_msg m{};
    m.idiag_family = AF_INET;
    m.idiag_state = 10;  // TCP_LISTEN
    m.id.idiag_sport = htons(port);
    m.id.idiag_dport = htons(4242);  // not a local port
    append_diag_record(dump, SOCK_DIAG_BY_FAMILY, &m, sizeof m);
  }
  const int done = 0;  // NLMSG_DONE carries an int
  append_diag_record(dump, NLMSG_DONE, &done, sizeof done);
  EXPECT_EQ(parse_inet_diag_ports(dump), (std::set<std::uint16_t>{22, 60134}));

  std::vector<unsigned char> none;
  append_diag_record(none, NLMSG_DONE, &done, sizeof done);
  EXPECT_TRUE(parse_inet_diag_ports(none).empty());

  std::vector<unsigned char> refused;
  nlmsgerr err{};
  err.error = -ENOENT;  // no tcp_diag in the kernel
  append_diag_record(refused, NLMSG_ERROR, &err, sizeof err);
  try {
    parse_inet_diag_ports(refused);
    ADD_FAILURE() << "an NLMSG_ERROR dump parsed";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), ENOENT);
  }

  std::vector<unsigned char> truncated;
  const unsigned char half[8] = {};
  append_diag_record(truncated, SOCK_DIAG_BY_FAMILY, half, sizeof half);
  EXPECT_THROW(parse_inet_diag_ports(truncated), Error);
}

// The jail's readiness: dnsmasq has bound the DHCP (67) and DNS (53) ports (/proc/<pid>/net/udp,
// where a bound socket is in state 07); a connected one (01) is not a listener.
TEST(ProcNetUdp, BoundPorts) {
  const char* udp =
      "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
      "  100: FE5BFB0A:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4711 2 0 0\n"
      "  101: 00000000:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4712 2 0 0\n"
      "  102: FE5BFB0A:A000 3500630A:0035 01 00000000:00000000 00:00000000 00000000     0        0 4713 2 0 0\n";
  EXPECT_EQ(parse_listening_ports(udp, kUdpBound), (std::set<std::uint16_t>{53, 67}));
  EXPECT_TRUE(parse_listening_ports(udp).empty());  // no TCP listener in it
}

TEST(HostPorts, LowestFreeInRange) {
  EXPECT_EQ(allocate_host_ports(3, 60222, 60230, {60222, 60224}),
            (std::vector<std::uint16_t>{60223, 60225, 60226}));
  EXPECT_TRUE(allocate_host_ports(0, 60222, 60222, {60222}).empty());
  EXPECT_EQ(allocate_host_ports(1, 65535, 65535, {}), (std::vector<std::uint16_t>{65535}));
}

TEST(HostPorts, ExhaustedRangeSaysHowManyWereFree) {
  try {
    allocate_host_ports(2, 60222, 60224, {60222, 60224});
    FAIL() << "no error";
  } catch (const slurmvm::Error& e) {
    EXPECT_EQ(e.kind(), slurmvm::ErrorKind::config);
    EXPECT_EQ(e.message(),
              "reverse NAT: 2 host ports are needed, but only 1 of [60222, 60224] is free on this "
              "node (other jobs and listening sockets hold the rest)");
  }
}

// Issue 11, item 1: a guest's connection never leaves from a reserved port, and only tcp, udp
// and icmp leave at all.
TEST(NatTable, OutboundMasqueradesToUnprivilegedPortsOnly) {
  NodeTable t;
  t.vm_jobs = 1;
  t.outbound = {{42, slurmvm::Ipv4Cidr::parse("10.251.7.0/24"), {}, true, {}}};
  const std::string text = nat_table_batch(t);
  EXPECT_NE(text.find("meta l4proto { tcp, udp } masquerade to :1024-65535"), std::string::npos) << text;
  EXPECT_NE(text.find("meta l4proto icmp masquerade"), std::string::npos) << text;
  // No masquerade without a port range but icmp's.
  std::size_t at = 0, plain = 0;
  while ((at = text.find("masquerade", at)) != std::string::npos) {
    const auto line_start = text.rfind('\n', at) + 1;
    const std::string line = text.substr(line_start, text.find('\n', at) - line_start);
    if (line.find("to :1024-65535") == std::string::npos) {
      ++plain;
      EXPECT_NE(line.find("l4proto icmp"), std::string::npos) << line;
    }
    at += 10;
  }
  EXPECT_EQ(plain, 1u);
  EXPECT_NE(text.find("meta l4proto { tcp, udp, icmp } accept"), std::string::npos) << text;
}

TEST(NatTable, NoOutboundRuleNoWayOut) {
  const std::string text = nat_table_batch({}, 1);
  EXPECT_EQ(text.find("masquerade"), std::string::npos) << text;
  EXPECT_EQ(text.find("oifname != \"svm*\""), std::string::npos) << text;
}

// Listed destinations come before the node's networks are denied ("unless listed"); the
// node's networks and the deny list come before anything else is allowed.
TEST(NatTable, OutboundOrderAllowThenDenyThenAnywhere) {
  NodeTable t;
  t.vm_jobs = 1;
  t.node_networks = {slurmvm::Ipv4Cidr::parse("10.77.0.0/24"), slurmvm::Ipv4Cidr::parse("10.77.0.11/32")};
  t.outbound = {{42,
                 slurmvm::Ipv4Cidr::parse("10.251.7.0/24"),
                 {{slurmvm::Ipv4Cidr::parse("10.77.0.1/32"), "tcp", 3128, 3128}},
                 true,
                 {slurmvm::Ipv4Cidr::parse("10.0.0.0/8"), slurmvm::Ipv4Cidr::parse("10.1.0.0/16")}}};
  const std::string text = nat_table_batch(t);
  const auto allow = text.find("ip daddr 10.77.0.1/32 tcp dport 3128 accept");
  const auto node = text.find("ip daddr @node_networks drop");
  const auto deny = text.find("ip daddr 10.0.0.0/8 drop");  // 10.1.0.0/16 is inside it
  const auto anywhere = text.find("meta l4proto { tcp, udp, icmp } accept");
  ASSERT_NE(allow, std::string::npos) << text;
  ASSERT_NE(node, std::string::npos) << text;
  ASSERT_NE(deny, std::string::npos) << text;
  ASSERT_NE(anywhere, std::string::npos) << text;
  EXPECT_LT(allow, node);
  EXPECT_LT(node, deny);
  EXPECT_LT(deny, anywhere);
  EXPECT_NE(text.find("elements = { 10.77.0.0/24 }"), std::string::npos) << text;
}

// Issue 11, items 2 and 3: the node's users reach VMs through reverse NAT only, the job's
// owner and root directly; no tunnel protocol is routed from a guest.
TEST(NatTable, OutputFilterAndTunnelDrops) {
  NodeTable t;
  t.vm_jobs = 2;
  t.owners = {{43, 0}, {42, 1000}};
  const std::string text = nat_table_batch(t);
  EXPECT_NE(text.find("type filter hook output priority 0"), std::string::npos) << text;
  EXPECT_NE(text.find("oifname \"svmgw2a\" meta skuid { 0, 1000 } accept"), std::string::npos) << text;
  EXPECT_NE(text.find("oifname \"svmgw2b\" meta skuid 0 accept"), std::string::npos) << text;
  EXPECT_LT(text.find("oifname \"svmgw2a\" meta skuid"), text.find("oifname \"svmgw2b\" meta skuid"));
  EXPECT_LT(text.find("oifname \"svmgw*\" ct status dnat accept\n"), text.find("skuid"));
  // The node serves VMs nothing (their DHCP/DNS server is jailed): replies only, in and out.
  EXPECT_EQ(text.find("dport 67"), std::string::npos) << text;
  EXPECT_EQ(text.find("sport 67"), std::string::npos) << text;
  EXPECT_EQ(text.find("dport 53"), std::string::npos) << text;
  EXPECT_NE(text.find("chain input {\n    type filter hook input priority 0; policy accept;\n"
                      "    iifname \"svmgw*\" ct state established,related accept\n"
                      "    iifname \"svm*\" drop\n  }"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("iifname \"svm*\" meta l4proto { 4, 41, 47 } drop"), std::string::npos) << text;
  EXPECT_NE(text.find("iifname \"svm*\" udp dport { 4789, 6081 } drop"), std::string::npos) << text;
  EXPECT_EQ(text.find("forwarded nothing"), std::string::npos);
  t.forward_only_vms = true;
  EXPECT_NE(nat_table_batch(t).find("    drop comment \"the node forwarded nothing before slurm-vm\"\n  }\n  chain output_filter"),
            std::string::npos);
}

// A job's jailed DNS server reaches the site's dns-server, and only that, whatever the job's
// allow-outbound: before the outbound rules (the upstream is often on a node network they
// deny), masqueraded from an unprivileged port, replies back.
TEST(NatTable, DnsServerReachesItsUpstreamOnly) {
  NodeTable t;
  t.vm_jobs = 1;
  t.node_networks = {slurmvm::Ipv4Cidr::parse("10.99.0.0/24")};
  t.outbound = {{42, slurmvm::Ipv4Cidr::parse("10.251.88.0/22"), {}, true, {}}};
  t.dns = {{42, 0x0afb5bfe, 0x0a630035}};  // 10.251.91.254 -> 10.99.0.53
  const std::string text = nat_table_batch(t);
  const std::string flow = "ip saddr 10.251.91.254 ip daddr 10.99.0.53 meta l4proto { tcp, udp } th dport 53";
  const auto accept = text.find("iifname \"svmgw2a\" " + flow + " accept comment \"job 42 dns\"");
  ASSERT_NE(accept, std::string::npos) << text;
  EXPECT_LT(accept, text.find("@node_networks drop")) << text;
  EXPECT_NE(text.find(flow + " masquerade to :1024-65535 comment \"job 42 dns\""), std::string::npos) << text;
  EXPECT_NE(text.find("oifname \"svmgw2a\" ct state established,related accept comment \"job 42 dns\""),
            std::string::npos)
      << text;
  // Without outbound connections, still only that.
  t.outbound.clear();
  const std::string alone = nat_table_batch(t);
  EXPECT_NE(alone.find("iifname \"svmgw2a\" " + flow + " accept"), std::string::npos) << alone;
  EXPECT_EQ(alone.find("oifname != \"svm*\" meta l4proto { tcp, udp, icmp } accept"), std::string::npos) << alone;
}

// Issue 11, bridged NICs: a guest on the site's LAN sends from its own MAC only and plays no
// DHCP server, router or tunnel endpoint there.
TEST(NatTable, BridgedPortsKeepToTheirOwnMac) {
  NodeTable t;
  t.vm_jobs = 1;
  t.bridged = {{42, 1, "svm2a.2001", slurmvm::parse_mac("42:00:00:2a:20:01")}};
  const std::string text = nat_table_batch(t);
  EXPECT_NE(text.find("table bridge slurm_vm {\n  chain prerouting {\n    type filter hook prerouting priority -200;"),
            std::string::npos) << text;
  for (const char* rule : {"ether saddr != 42:00:00:2a:20:01 drop", "ether type { 8021q, 8021ad } drop",
                           "arp saddr ether != 42:00:00:2a:20:01 drop", "udp sport { 67, 547 } drop",
                           "udp dport { 68, 546 } drop", "nd-router-advert", "icmp type redirect drop",
                           "meta l4proto { 4, 41, 47 } drop", "udp dport { 4789, 6081 } drop"}) {
    EXPECT_NE(text.find(rule), std::string::npos) << rule << "\n" << text;
  }
  // Untagged: no VLAN-typed rule at all (every tagged frame is dropped before).
  EXPECT_EQ(text.find("vlan type"), std::string::npos) << text;
}

// A NIC on tagged VLANs sends one tag, never two, and the same checks hold behind it.
TEST(NatTable, TaggedBridgedPortsGetTheChecksBehindTheTag) {
  NodeTable t;
  t.vm_jobs = 1;
  t.bridged = {{42, 1, "svm2a.2001", slurmvm::parse_mac("42:00:00:2a:20:01"), true}};
  const std::string text = nat_table_batch(t);
  for (const char* rule : {"ether type 8021ad drop", "vlan type { 8021q, 8021ad } drop",
                           "vlan type arp arp saddr ether != 42:00:00:2a:20:01 drop", "vlan type ip udp sport { 67, 68 } drop",
                           "vlan type ip ip protocol { 4, 41, 47 } drop", "vlan type ip6 icmpv6 type"}) {
    EXPECT_NE(text.find(rule), std::string::npos) << rule << "\n" << text;
  }
  EXPECT_EQ(text.find("ether type { 8021q, 8021ad } drop"), std::string::npos) << text;
}

// Between VM jobs, a node whose forwarding slurm-vm turned on keeps the forwarding drop.
TEST(NatTable, ForwardDropStaysBetweenJobs) {
  NodeTable t;
  t.forward_only_vms = true;
  const std::string text = nat_table_batch(t);
  EXPECT_NE(text.find("drop comment \"the node forwarded nothing before slurm-vm\""), std::string::npos) << text;
  EXPECT_EQ(text.find("dnat to"), std::string::npos) << text;
}

// The output filter lets replies through, never an original-direction packet of someone else's
// connection.
TEST(NatTable, OutputFilterAcceptsRepliesOnly) {
  const std::string text = nat_table_batch({}, 1);
  EXPECT_NE(text.find("oifname \"svm*\" ct state established,related ct direction reply accept"), std::string::npos)
      << text;
}
