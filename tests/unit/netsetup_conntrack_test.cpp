// Stale reverse-NAT connections (conntrack.hpp): which entries of a ctnetlink dump are DNATs of
// a host port, and which of those still point at a port's previous VM. The dump is built here
// as the kernel lays it out (linux/netfilter/nfnetlink_conntrack.h); the real table is
// tests/root/netsetup_nat_test.cpp's.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "error.hpp"
#include "netsetup/conntrack.hpp"

using namespace slurmvm::netsetup;

namespace {

using Bytes = std::vector<unsigned char>;

void attr(Bytes& out, std::uint16_t type, const Bytes& data) {
  nlattr a{};
  a.nla_len = static_cast<std::uint16_t>(NLA_HDRLEN + data.size());
  a.nla_type = type;
  const auto* p = reinterpret_cast<const unsigned char*>(&a);
  out.insert(out.end(), p, p + sizeof a);
  out.insert(out.end(), data.begin(), data.end());
  out.resize(out.size() + (NLA_ALIGN(data.size()) - data.size()), 0);
}
template <class T>
Bytes raw(T v) {
  Bytes b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}
Bytes tuple(std::uint32_t src, std::uint32_t dst, std::uint16_t sport, std::uint16_t dport, std::uint8_t proto) {
  Bytes ip, pr, t;
  attr(ip, CTA_IP_V4_SRC, raw(htonl(src)));
  attr(ip, CTA_IP_V4_DST, raw(htonl(dst)));
  attr(pr, CTA_PROTO_NUM, raw(proto));
  attr(pr, CTA_PROTO_SRC_PORT, raw(htons(sport)));
  attr(pr, CTA_PROTO_DST_PORT, raw(htons(dport)));
  attr(t, CTA_TUPLE_IP | NLA_F_NESTED, ip);
  attr(t, CTA_TUPLE_PROTO | NLA_F_NESTED, pr);
  return t;
}
constexpr std::uint32_t kLogin = 0x0a4d0001, kNode = 0x0a4d000b;  // 10.77.0.1, 10.77.0.11

// One entry: the client's connection to the node's host port, DNATed to vm_ip:22 (or not).
void entry(Bytes& dump, std::uint16_t sport, std::uint16_t host_port, std::uint32_t vm_ip, bool dnat,
           std::uint8_t proto = IPPROTO_TCP, std::uint8_t family = AF_INET) {
  Bytes payload(sizeof(nfgenmsg), 0);
  nfgenmsg g{};
  g.nfgen_family = family;
  std::memcpy(payload.data(), &g, sizeof g);
  attr(payload, CTA_TUPLE_ORIG | NLA_F_NESTED, tuple(kLogin, kNode, sport, host_port, proto));
  attr(payload, CTA_TUPLE_REPLY | NLA_F_NESTED, tuple(vm_ip, kLogin, 22, sport, proto));
  attr(payload, CTA_STATUS, raw(htonl(dnat ? IPS_DST_NAT | IPS_CONFIRMED : IPS_CONFIRMED)));
  nlmsghdr h{};
  h.nlmsg_len = static_cast<std::uint32_t>(NLMSG_HDRLEN + payload.size());
  h.nlmsg_type = static_cast<std::uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW);
  const auto* p = reinterpret_cast<const unsigned char*>(&h);
  dump.insert(dump.end(), p, p + sizeof h);
  dump.insert(dump.end(), payload.begin(), payload.end());
}
void done(Bytes& dump) {
  nlmsghdr h{};
  h.nlmsg_len = NLMSG_HDRLEN + sizeof(int);
  h.nlmsg_type = NLMSG_DONE;
  const auto* p = reinterpret_cast<const unsigned char*>(&h);
  dump.insert(dump.end(), p, p + sizeof h);
  dump.resize(dump.size() + sizeof(int), 0);
}

}  // namespace

TEST(Conntrack, OnlyDnatedIpv4TcpEntriesAreRead) {
  Bytes dump;
  entry(dump, 40001, 60222, 0x0afb4402, true);                         // a reverse-NAT SSH connection
  entry(dump, 40002, 60223, 0x0afb4403, false);                        // not NATed: not ours
  entry(dump, 40003, 60222, 0x0afb4402, true, IPPROTO_UDP);            // not TCP
  entry(dump, 40004, 60222, 0x0afb4402, true, IPPROTO_TCP, AF_INET6);  // not IPv4
  done(dump);
  const auto c = parse_nat_connections(dump);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].orig_dport, 60222);
  EXPECT_EQ(c[0].reply_src, 0x0afb4402u);
  EXPECT_EQ(c[0].reply_sport, 22);
  EXPECT_FALSE(c[0].orig_tuple.empty());
}

// Port 60223 went from job A's vm1 (10.251.68.3) to job B's vm0 (10.251.92.2): A's entry is
// stale; B's own, and entries of ports without a rule, are left alone.
TEST(Conntrack, StaleMeansAPortsRuleNowSendsItElsewhere) {
  Bytes dump;
  entry(dump, 40001, 60223, 0x0afb4403, true);  // job A's probe, left over
  entry(dump, 40002, 60223, 0x0afb5c02, true);  // job B's own connection
  entry(dump, 40003, 60250, 0x0afb4404, true);  // a port no job forwards now
  done(dump);
  const std::vector<NatRule> rules = {{.job_id = 92, .rank = 0, .host_port = 60223, .vm_ip = 0x0afb5c02, .vm_port = 22}};
  const auto stale = stale_nat_connections(parse_nat_connections(dump), rules);
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_EQ(stale[0].reply_src, 0x0afb4403u);
  EXPECT_TRUE(stale_nat_connections(parse_nat_connections(dump), {}).empty());
}

TEST(Conntrack, ATruncatedDumpIsAnError) {
  Bytes dump;
  entry(dump, 40001, 60222, 0x0afb4402, true);
  dump.resize(dump.size() - 8);
  EXPECT_THROW(parse_nat_connections(dump), slurmvm::Error);
}
