// The node's addresses and routes (host_routes.hpp): parsing rtnetlink dumps built here byte by
// byte, the networks no VM may reach, and the overlap check that refuses a job subnet.
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "error.hpp"
#include "netsetup/host_routes.hpp"

using namespace slurmvm;
using namespace slurmvm::netsetup;

namespace {

constexpr std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

// One netlink message: header, fixed part, attributes.
class Message {
 public:
  Message(std::uint16_t type, const void* fixed, std::size_t len) {
    bytes_.resize(align4(sizeof(nlmsghdr)) + align4(len));
    nlmsghdr h{};
    h.nlmsg_type = type;
    std::memcpy(bytes_.data(), &h, sizeof h);
    std::memcpy(bytes_.data() + align4(sizeof(nlmsghdr)), fixed, len);
  }
  Message& attr(std::uint16_t type, const void* data, std::size_t len) {
    rtattr a{};
    a.rta_type = type;
    a.rta_len = static_cast<unsigned short>(sizeof(rtattr) + len);
    const auto at = bytes_.size();
    bytes_.resize(at + align4(a.rta_len));
    std::memcpy(bytes_.data() + at, &a, sizeof a);
    std::memcpy(bytes_.data() + at + sizeof(rtattr), data, len);
    return *this;
  }
  Message& ipv4(std::uint16_t type, const char* dotted) {
    in_addr a{};
    inet_pton(AF_INET, dotted, &a);
    return attr(type, &a, 4);
  }
  void append_to(std::vector<unsigned char>& out) {
    const auto len = static_cast<std::uint32_t>(bytes_.size());
    std::memcpy(bytes_.data(), &len, sizeof len);
    out.insert(out.end(), bytes_.begin(), bytes_.end());
  }

 private:
  std::vector<unsigned char> bytes_;
};

void done(std::vector<unsigned char>& out) {
  int zero = 0;
  Message(NLMSG_DONE, &zero, sizeof zero).append_to(out);
}

std::uint32_t ip(const char* dotted) {
  in_addr a{};
  inet_pton(AF_INET, dotted, &a);
  return ntohl(a.s_addr);
}

}  // namespace

TEST(HostRoutes, ParsesAnAddressDump) {
  std::vector<unsigned char> dump;
  ifaddrmsg m{};
  m.ifa_family = AF_INET;
  m.ifa_prefixlen = 24;
  Message(RTM_NEWADDR, &m, sizeof m).ipv4(IFA_ADDRESS, "10.77.0.11").ipv4(IFA_LOCAL, "10.77.0.11").attr(IFA_LABEL, "br-phy", 7).append_to(dump);
  ifaddrmsg v6{};
  v6.ifa_family = AF_INET6;
  Message(RTM_NEWADDR, &v6, sizeof v6).append_to(dump);  // skipped
  m.ifa_prefixlen = 8;
  Message(RTM_NEWADDR, &m, sizeof m).ipv4(IFA_LOCAL, "127.0.0.1").attr(IFA_LABEL, "lo", 3).append_to(dump);
  done(dump);
  const auto addrs = parse_address_dump(dump);
  ASSERT_EQ(addrs.size(), 2u);
  EXPECT_EQ(addrs[0].ifname, "br-phy");
  EXPECT_EQ(addrs[0].address, ip("10.77.0.11"));
  EXPECT_EQ(addrs[0].prefix, 24u);
  EXPECT_EQ(addrs[1].ifname, "lo");
}

TEST(HostRoutes, ParsesARouteDumpAndRejectsTruncation) {
  std::vector<unsigned char> dump;
  rtmsg r{};
  r.rtm_family = AF_INET;
  r.rtm_dst_len = 16;
  r.rtm_table = RT_TABLE_MAIN;
  r.rtm_type = RTN_UNICAST;
  const std::uint32_t oif = 7;
  Message(RTM_NEWROUTE, &r, sizeof r).ipv4(RTA_DST, "10.251.0.0").attr(RTA_OIF, &oif, 4).append_to(dump);
  r.rtm_dst_len = 0;
  Message(RTM_NEWROUTE, &r, sizeof r).append_to(dump);  // the default route
  done(dump);
  const auto routes = parse_route_dump(dump);
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].dst, ip("10.251.0.0"));
  EXPECT_EQ(routes[0].prefix, 16u);
  EXPECT_EQ(routes[0].oif, 7u);
  EXPECT_EQ(routes[1].prefix, 0u);
  dump.resize(dump.size() - 30);
  EXPECT_THROW(parse_route_dump(dump), Error);
}

TEST(HostRoutes, NodeNetworksLeaveSlurmVmGatewaysOut) {
  const std::vector<HostAddress> addrs = {{"br-phy", ip("10.77.0.11"), 24}, {"lo", ip("127.0.0.1"), 8},
                                          {"svmgw2a", ip("10.251.43.1"), 24}, {"ib0", ip("192.168.5.3"), 32}};
  const auto nets = node_networks(addrs);
  std::vector<std::string> text;
  for (const auto& n : nets) text.push_back(n.to_string());
  EXPECT_EQ(text, (std::vector<std::string>{"10.77.0.11/32", "10.77.0.0/24", "127.0.0.1/32", "127.0.0.0/8",
                                            "192.168.5.3/32"}));
}

// Issue 11, item 5: a job subnet that overlaps a route or an address of the node is refused,
// with both named; a default route does not count.
TEST(HostRoutes, SubnetConflictNamesWhatItShadows) {
  const std::vector<HostAddress> addrs = {{"br-phy", ip("10.77.0.11"), 24}};
  std::vector<HostRoute> routes = {{0, 0, 2, "br-phy", RT_TABLE_MAIN, RTN_UNICAST},
                                   {ip("10.251.0.0"), 20, 3, "ib0", RT_TABLE_MAIN, RTN_UNICAST}};
  EXPECT_EQ(subnet_conflict(Ipv4Cidr::parse("10.251.3.0/24"), addrs, routes), "route 10.251.0.0/20 dev ib0");
  EXPECT_EQ(subnet_conflict(Ipv4Cidr::parse("10.251.16.0/24"), addrs, routes), std::nullopt);
  EXPECT_EQ(subnet_conflict(Ipv4Cidr::parse("10.77.0.0/28"), addrs, {}), "address 10.77.0.11/24 on br-phy");
  routes.push_back({ip("10.252.0.0"), 16, 0, "", 100, RTN_UNREACHABLE});
  EXPECT_EQ(subnet_conflict(Ipv4Cidr::parse("10.252.9.0/24"), {}, routes), "route 10.252.0.0/16 table 100");
  EXPECT_TRUE(overlaps(Ipv4Cidr::parse("10.0.0.0/8"), Ipv4Cidr::parse("10.9.9.0/24")));
  EXPECT_FALSE(overlaps(Ipv4Cidr::parse("10.0.0.0/16"), Ipv4Cidr::parse("10.1.0.0/16")));
}

// The live dump of this process's namespace parses (loopback is always there).
TEST(HostRoutes, LiveDumpHasLoopback) {
  const auto addrs = host_ipv4_addresses();
  bool lo = false;
  for (const auto& a : addrs) lo = lo || (a.ifname == "lo" && a.address == ip("127.0.0.1"));
  EXPECT_TRUE(lo);
  EXPECT_FALSE(host_ipv4_routes().empty());
}
