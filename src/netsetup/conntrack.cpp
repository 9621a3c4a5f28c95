// Stale reverse-NAT connections, over ctnetlink (conntrack.hpp). The message layout is the
// kernel's uapi (linux/netfilter/nfnetlink_conntrack.h): an nfgenmsg, then nested attributes.
#include "netsetup/conntrack.hpp"

#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "error.hpp"
#include "netsetup/rtnl.hpp"

namespace slurmvm::netsetup {
namespace {

constexpr std::uint16_t kCtMessage(std::uint8_t msg) {
  return static_cast<std::uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | msg);
}

std::uint16_t be16_at(std::span<const unsigned char> d) {
  if (d.size() < 2) throw Error("ctnetlink: a short port attribute", ErrorKind::system);
  std::uint16_t v;
  std::memcpy(&v, d.data(), 2);
  return ntohs(v);
}
std::uint32_t be32_at(std::span<const unsigned char> d) {
  if (d.size() < 4) throw Error("ctnetlink: a short address or status attribute", ErrorKind::system);
  std::uint32_t v;
  std::memcpy(&v, d.data(), 4);
  return ntohl(v);
}

// A tuple's address, protocol and ports (the members of CTA_TUPLE_ORIG or CTA_TUPLE_REPLY).
struct Tuple {
  std::optional<std::uint32_t> src, dst;
  std::optional<std::uint8_t> proto;
  std::optional<std::uint16_t> sport, dport;
};
Tuple parse_tuple(std::span<const unsigned char> nested) {
  Tuple t;
  for_each_rtnl_attr(nested, 0, [&](std::uint16_t type, std::span<const unsigned char> data) {
    if ((type & NLA_TYPE_MASK) == CTA_TUPLE_IP) {
      for_each_rtnl_attr(data, 0, [&](std::uint16_t ip, std::span<const unsigned char> v) {
        if ((ip & NLA_TYPE_MASK) == CTA_IP_V4_SRC) t.src = be32_at(v);
        if ((ip & NLA_TYPE_MASK) == CTA_IP_V4_DST) t.dst = be32_at(v);
      });
    } else if ((type & NLA_TYPE_MASK) == CTA_TUPLE_PROTO) {
      for_each_rtnl_attr(data, 0, [&](std::uint16_t p, std::span<const unsigned char> v) {
        if ((p & NLA_TYPE_MASK) == CTA_PROTO_NUM && !v.empty()) t.proto = v[0];
        if ((p & NLA_TYPE_MASK) == CTA_PROTO_SRC_PORT) t.sport = be16_at(v);
        if ((p & NLA_TYPE_MASK) == CTA_PROTO_DST_PORT) t.dport = be16_at(v);
      });
    }
  });
  return t;
}

}  // namespace

std::vector<NatConnection> parse_nat_connections(std::span<const unsigned char> dump) {
  std::vector<NatConnection> out;
  for_each_rtnl_message(dump, [&](std::uint16_t type, std::span<const unsigned char> payload) {
    if (type != kCtMessage(IPCTNL_MSG_CT_NEW)) return;
    if (payload.size() < sizeof(nfgenmsg)) throw Error("ctnetlink: a truncated conntrack entry", ErrorKind::system);
    nfgenmsg g;
    std::memcpy(&g, payload.data(), sizeof g);
    if (g.nfgen_family != AF_INET) return;
    Tuple orig, reply;
    std::vector<unsigned char> orig_raw;
    std::uint32_t status = 0;
    for_each_rtnl_attr(payload, sizeof(nfgenmsg), [&](std::uint16_t attr, std::span<const unsigned char> data) {
      switch (attr & NLA_TYPE_MASK) {
        case CTA_TUPLE_ORIG:
          orig = parse_tuple(data);
          orig_raw.assign(data.begin(), data.end());
          break;
        case CTA_TUPLE_REPLY: reply = parse_tuple(data); break;
        case CTA_STATUS: status = be32_at(data); break;
        default: break;
      }
    });
    if ((status & IPS_DST_NAT) == 0 || orig.proto != IPPROTO_TCP || !orig.dport || !reply.src || !reply.sport) return;
    out.push_back({*orig.dport, *reply.src, *reply.sport, std::move(orig_raw)});
  });
  return out;
}

std::vector<NatConnection> stale_nat_connections(const std::vector<NatConnection>& connections,
                                                 const std::vector<NatRule>& rules) {
  std::map<std::uint16_t, std::pair<std::uint32_t, std::uint16_t>> target;
  for (const auto& r : rules) target[r.host_port] = {r.vm_ip, r.vm_port};
  std::vector<NatConnection> stale;
  for (const auto& c : connections) {
    const auto it = target.find(c.orig_dport);
    if (it != target.end() && it->second != std::pair{c.reply_src, c.reply_sport}) stale.push_back(c);
  }
  return stale;
}

std::size_t forget_stale_nat_connections(const std::vector<NatRule>& rules) {
  if (rules.empty()) return 0;
  nfgenmsg g{};
  g.nfgen_family = AF_INET;
  g.version = NFNETLINK_V0;
  const auto dump = netlink_dump(NETLINK_NETFILTER, kCtMessage(IPCTNL_MSG_CT_GET), &g, sizeof g);
  std::size_t deleted = 0;
  for (const auto& c : stale_nat_connections(parse_nat_connections(dump), rules)) {
    RtnlMessage del(kCtMessage(IPCTNL_MSG_CT_DELETE), 0, &g, sizeof g);
    del.put(static_cast<std::uint16_t>(CTA_TUPLE_ORIG | NLA_F_NESTED), c.orig_tuple.data(), c.orig_tuple.size());
    const int err = del.transact(NETLINK_NETFILTER);
    if (err == 0) {
      ++deleted;
    } else if (err != -ENOENT) {
      throw Error::from_errno(fmt::format("deleting a stale conntrack entry of host port {}", c.orig_dport), -err);
    }
  }
  return deleted;
}

}  // namespace slurmvm::netsetup
