// The node's addresses and routes over rtnetlink (host_routes.hpp).
#include "netsetup/host_routes.hpp"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "error.hpp"
#include "netsetup/job_error.hpp"
#include "netsetup/nat.hpp"
#include "netsetup/rtnl.hpp"
#include "unique_fd.hpp"

namespace slurmvm::netsetup {
namespace {

std::uint32_t mask_of(unsigned prefix) { return prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix); }

std::uint32_t ipv4_of(std::span<const unsigned char> data) {
  if (data.size() != 4) throw Error("rtnetlink: an IPv4 attribute that is not 4 bytes", ErrorKind::system);
  std::uint32_t be = 0;
  std::memcpy(&be, data.data(), 4);
  return ntohl(be);
}

std::uint32_t u32_of(std::span<const unsigned char> data) {
  std::uint32_t v = 0;
  if (data.size() == 4) std::memcpy(&v, data.data(), 4);
  return v;
}

std::string interface_name(std::uint32_t index) {
  char name[IF_NAMESIZE] = {};
  if (index == 0 || ::if_indextoname(index, name) == nullptr) return {};
  return name;
}

}  // namespace

bool overlaps(const Ipv4Cidr& a, const Ipv4Cidr& b) noexcept {
  const unsigned p = std::min(a.prefix, b.prefix);
  return ((a.address ^ b.address) & mask_of(p)) == 0;
}

std::vector<HostAddress> parse_address_dump(std::span<const unsigned char> bytes) {
  std::vector<HostAddress> out;
  for_each_rtnl_message(bytes, [&](std::uint16_t type, std::span<const unsigned char> payload) {
    if (type != RTM_NEWADDR || payload.size() < sizeof(ifaddrmsg)) return;
    ifaddrmsg m;
    std::memcpy(&m, payload.data(), sizeof m);
    if (m.ifa_family != AF_INET || m.ifa_prefixlen > 32) return;
    HostAddress a;
    a.prefix = m.ifa_prefixlen;
    bool have = false;
    for_each_rtnl_attr(payload, sizeof m, [&](std::uint16_t attr, std::span<const unsigned char> data) {
      // IFA_LOCAL is the address itself; IFA_ADDRESS the peer's on point-to-point links.
      if (attr == IFA_LOCAL || (attr == IFA_ADDRESS && !have)) {
        a.address = ipv4_of(data);
        have = true;
      } else if (attr == IFA_LABEL) {
        a.ifname.assign(reinterpret_cast<const char*>(data.data()), strnlen(reinterpret_cast<const char*>(data.data()), data.size()));
      }
    });
    if (have) out.push_back(std::move(a));
  });
  return out;
}

std::vector<HostRoute> parse_route_dump(std::span<const unsigned char> bytes) {
  std::vector<HostRoute> out;
  for_each_rtnl_message(bytes, [&](std::uint16_t type, std::span<const unsigned char> payload) {
    if (type != RTM_NEWROUTE || payload.size() < sizeof(rtmsg)) return;
    rtmsg m;
    std::memcpy(&m, payload.data(), sizeof m);
    if (m.rtm_family != AF_INET || m.rtm_dst_len > 32) return;
    HostRoute r;
    r.prefix = m.rtm_dst_len;
    r.table = m.rtm_table;
    r.type = m.rtm_type;
    for_each_rtnl_attr(payload, sizeof m, [&](std::uint16_t attr, std::span<const unsigned char> data) {
      if (attr == RTA_DST) r.dst = ipv4_of(data);
      if (attr == RTA_OIF) r.oif = u32_of(data);
      if (attr == RTA_TABLE) r.table = u32_of(data);
    });
    out.push_back(r);
  });
  return out;
}

std::vector<HostAddress> host_ipv4_addresses() {
  ifaddrmsg m{};
  m.ifa_family = AF_INET;
  const auto bytes = rtnl_dump(RTM_GETADDR, &m, sizeof m);
  return parse_address_dump(bytes);
}

std::vector<HostRoute> host_ipv4_routes() {
  rtmsg m{};
  m.rtm_family = AF_INET;
  const auto bytes = rtnl_dump(RTM_GETROUTE, &m, sizeof m);
  auto routes = parse_route_dump(bytes);
  for (auto& r : routes) r.ifname = interface_name(r.oif);
  return routes;
}

std::vector<Ipv4Cidr> node_networks(const std::vector<HostAddress>& addresses) {
  std::vector<Ipv4Cidr> out;
  for (const auto& a : addresses) {
    if (a.ifname.rfind(kVmInterfacePrefix, 0) == 0) continue;  // a job's gateway
    out.push_back({a.address, 32});
    // A /0 address would deny everything: only its own /32 then.
    if (a.prefix > 0 && a.prefix < 32) out.push_back({a.address & mask_of(a.prefix), a.prefix});
  }
  return out;
}

std::optional<std::string> subnet_conflict(const Ipv4Cidr& subnet, const std::vector<HostAddress>& addresses,
                                           const std::vector<HostRoute>& routes) {
  for (const auto& a : addresses) {
    if (overlaps(subnet, {a.address, 32}) || (a.prefix > 0 && overlaps(subnet, {a.address & mask_of(a.prefix), a.prefix}))) {
      return fmt::format("address {}/{} on {}", format_ipv4(a.address), a.prefix, a.ifname.empty() ? "?" : a.ifname);
    }
  }
  for (const auto& r : routes) {
    if (r.prefix == 0) continue;
    if (overlaps(subnet, {r.dst, r.prefix})) {
      return fmt::format("route {}/{}{}{}", format_ipv4(r.dst), r.prefix, r.ifname.empty() ? "" : " dev " + r.ifname,
                         r.table == RT_TABLE_MAIN ? "" : fmt::format(" table {}", r.table));
    }
  }
  return std::nullopt;
}

void refuse_shadowing_subnet(const Ipv4Cidr& subnet, const std::string& network, const Ipv4Cidr& pool,
                             const std::string& node) {
  std::vector<HostAddress> ours_a, site_a;
  std::vector<HostRoute> ours_r, site_r;
  for (auto& a : host_ipv4_addresses()) (a.ifname.starts_with(kVmInterfacePrefix) ? ours_a : site_a).push_back(a);
  for (auto& r : host_ipv4_routes()) (r.ifname.starts_with(kVmInterfacePrefix) ? ours_r : site_r).push_back(r);
  const auto message = [&](const std::string& conflict, const char* fix) {
    return fmt::format("the job's subnet {} (network {}, int-network {}) overlaps {} on node {}: the VMs would "
                       "shadow it; {}",
                       subnet.to_string(), network, pool.to_string(), conflict, node, fix);
  };
  if (const auto conflict = subnet_conflict(subnet, site_a, site_r)) {
    throw Error(message(*conflict, "an administrator must give the network an int-network that the site does "
                                   "not use (networks.yaml)"),
                ErrorKind::config);
  }
  if (const auto conflict = subnet_conflict(subnet, ours_a, ours_r)) {
    throw JobError(message(*conflict, "another job's network holds it: retry when that job has ended"),
                   ErrorKind::config);
  }
}

}  // namespace slurmvm::netsetup
