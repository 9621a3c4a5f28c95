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
#include "netsetup/nat.hpp"
#include "unique_fd.hpp"

namespace slurmvm::netsetup {
namespace {

constexpr std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }
constexpr std::size_t kNlHeader = align4(sizeof(nlmsghdr));
constexpr std::size_t kAttrHeader = align4(sizeof(rtattr));
// A dump larger than this is not a compute node's (a full BGP table is ~1M routes: refused).
constexpr std::size_t kMaxDumpBytes = std::size_t{64} << 20;

std::uint32_t mask_of(unsigned prefix) { return prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix); }

// Calls `each(type, payload)` for every message of a dump, `payload` being what follows the
// netlink header. Stops at NLMSG_DONE; an NLMSG_ERROR is an Error.
template <class F>
void for_each_message(std::span<const unsigned char> bytes, F&& each) {
  std::size_t off = 0;
  while (off + sizeof(nlmsghdr) <= bytes.size()) {
    nlmsghdr h;
    std::memcpy(&h, bytes.data() + off, sizeof h);
    if (h.nlmsg_len < kNlHeader || off + h.nlmsg_len > bytes.size()) {
      throw Error("rtnetlink: a truncated message in the dump", ErrorKind::system);
    }
    if (h.nlmsg_type == NLMSG_DONE) return;
    if (h.nlmsg_type == NLMSG_ERROR) {
      int err = 0;
      if (h.nlmsg_len >= kNlHeader + sizeof(int)) std::memcpy(&err, bytes.data() + off + kNlHeader, sizeof err);
      throw Error::from_errno("rtnetlink dump", -err);
    }
    each(h.nlmsg_type, bytes.subspan(off + kNlHeader, h.nlmsg_len - kNlHeader));
    off += align4(h.nlmsg_len);
  }
}

// Calls `attr(type, data)` for every attribute after a fixed header of `header_len` bytes.
template <class F>
void for_each_attr(std::span<const unsigned char> payload, std::size_t header_len, F&& attr) {
  std::size_t off = align4(header_len);
  while (off + sizeof(rtattr) <= payload.size()) {
    rtattr a;
    std::memcpy(&a, payload.data() + off, sizeof a);
    if (a.rta_len < sizeof(rtattr) || off + a.rta_len > payload.size()) break;
    attr(a.rta_type, payload.subspan(off + kAttrHeader, a.rta_len - kAttrHeader));
    off += align4(a.rta_len);
  }
}

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

// One dump request of `type` for AF_INET, its whole answer.
std::vector<unsigned char> dump(std::uint16_t type, const void* header, std::size_t header_len) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) throw Error::from_errno("opening an rtnetlink socket", errno);
  const timeval timeout{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::vector<unsigned char> req(kNlHeader + align4(header_len));
  nlmsghdr h{};
  h.nlmsg_len = static_cast<std::uint32_t>(req.size());
  h.nlmsg_type = type;
  h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  h.nlmsg_seq = 1;
  std::memcpy(req.data(), &h, sizeof h);
  std::memcpy(req.data() + kNlHeader, header, header_len);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd.get(), req.data(), req.size(), 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) < 0) {
    throw Error::from_errno("sending an rtnetlink dump request", errno);
  }
  std::vector<unsigned char> out;
  std::vector<unsigned char> buf(32768);
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) throw Error("no rtnetlink answer from the kernel within 5 s", ErrorKind::timeout);
    if (n < 0) throw Error::from_errno("reading an rtnetlink dump", errno);
    if (n == 0) throw Error("rtnetlink: the dump ended without NLMSG_DONE", ErrorKind::system);
    out.insert(out.end(), buf.begin(), buf.begin() + n);
    if (out.size() > kMaxDumpBytes) throw Error("rtnetlink: the dump is larger than 64 MiB", ErrorKind::system);
    // The last message of the last datagram says whether the dump is complete.
    bool done = false;
    for (std::size_t off = 0; off + sizeof(nlmsghdr) <= static_cast<std::size_t>(n);) {
      nlmsghdr m;
      std::memcpy(&m, buf.data() + off, sizeof m);
      if (m.nlmsg_len < kNlHeader) break;
      if (m.nlmsg_type == NLMSG_DONE || m.nlmsg_type == NLMSG_ERROR) done = true;
      off += align4(m.nlmsg_len);
    }
    if (done) return out;
  }
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
  for_each_message(bytes, [&](std::uint16_t type, std::span<const unsigned char> payload) {
    if (type != RTM_NEWADDR || payload.size() < sizeof(ifaddrmsg)) return;
    ifaddrmsg m;
    std::memcpy(&m, payload.data(), sizeof m);
    if (m.ifa_family != AF_INET || m.ifa_prefixlen > 32) return;
    HostAddress a;
    a.prefix = m.ifa_prefixlen;
    bool have = false;
    for_each_attr(payload, sizeof m, [&](std::uint16_t attr, std::span<const unsigned char> data) {
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
  for_each_message(bytes, [&](std::uint16_t type, std::span<const unsigned char> payload) {
    if (type != RTM_NEWROUTE || payload.size() < sizeof(rtmsg)) return;
    rtmsg m;
    std::memcpy(&m, payload.data(), sizeof m);
    if (m.rtm_family != AF_INET || m.rtm_dst_len > 32) return;
    HostRoute r;
    r.prefix = m.rtm_dst_len;
    r.table = m.rtm_table;
    r.type = m.rtm_type;
    for_each_attr(payload, sizeof m, [&](std::uint16_t attr, std::span<const unsigned char> data) {
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
  const auto bytes = dump(RTM_GETADDR, &m, sizeof m);
  return parse_address_dump(bytes);
}

std::vector<HostRoute> host_ipv4_routes() {
  rtmsg m{};
  m.rtm_family = AF_INET;
  const auto bytes = dump(RTM_GETROUTE, &m, sizeof m);
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

}  // namespace slurmvm::netsetup
