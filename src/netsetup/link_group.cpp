// Interface groups over rtnetlink (link_group.hpp).
#include "netsetup/link_group.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "error.hpp"
#include "netsetup/tap.hpp"
#include "unique_fd.hpp"

namespace slurmvm::netsetup {
namespace {

// The <linux/netlink.h> accessor macros use C casts (-Wold-style-cast): the same arithmetic.
constexpr std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }
constexpr std::size_t kNlHeader = align4(sizeof(nlmsghdr));
constexpr std::size_t kAttrHeader = align4(sizeof(rtattr));

struct LinkRequest {
  nlmsghdr header;
  ifinfomsg info;
  alignas(4) char attrs[kAttrHeader + sizeof(std::uint32_t)];
};

// Sends one request and returns the kernel's answer: 0, or a negative errno. The kernel
// answers a local socket at once; the 5 s receive timeout is only a guard.
int rtnl_transact(LinkRequest& req) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) throw Error::from_errno("opening an rtnetlink socket", errno);
  const timeval timeout{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd.get(), &req, req.header.nlmsg_len, 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) < 0) {
    throw Error::from_errno("sending an rtnetlink request", errno);
  }
  alignas(nlmsghdr) char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) throw Error("no rtnetlink answer from the kernel within 5 s", ErrorKind::timeout);
    if (n < 0) throw Error::from_errno("waiting for the kernel's rtnetlink answer", errno);
    const auto len = static_cast<std::size_t>(n);
    for (std::size_t off = 0; off + sizeof(nlmsghdr) <= len;) {
      nlmsghdr h;
      std::memcpy(&h, buf + off, sizeof h);
      if (h.nlmsg_len < sizeof(nlmsghdr) || off + h.nlmsg_len > len) break;
      if (h.nlmsg_seq == req.header.nlmsg_seq && h.nlmsg_type == NLMSG_ERROR &&
          h.nlmsg_len >= kNlHeader + sizeof(nlmsgerr)) {
        nlmsgerr err;
        std::memcpy(&err, buf + off + kNlHeader, sizeof err);
        return err.error;
      }
      off += align4(h.nlmsg_len);
    }
  }
}

LinkRequest link_request(std::uint16_t type, int ifindex, std::uint32_t group) {
  LinkRequest req{};
  req.header.nlmsg_type = type;
  req.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  req.header.nlmsg_seq = 1;
  req.info.ifi_family = AF_UNSPEC;
  req.info.ifi_index = ifindex;
  rtattr attr{};
  attr.rta_type = IFLA_GROUP;
  attr.rta_len = static_cast<unsigned short>(kAttrHeader + sizeof group);
  std::memcpy(req.attrs, &attr, sizeof attr);
  std::memcpy(req.attrs + kAttrHeader, &group, sizeof group);
  req.header.nlmsg_len = static_cast<std::uint32_t>(kNlHeader + align4(sizeof(ifinfomsg)) + sizeof req.attrs);
  return req;
}

}  // namespace

std::uint32_t tap_link_group(std::uint32_t network_id) { return kLinkGroupTag | (network_id & 0xffff); }

void set_link_group(const std::string& ifname, std::uint32_t group) {
  validate_ifname(ifname);
  const unsigned index = ::if_nametoindex(ifname.c_str());
  if (index == 0) throw Error::from_errno(fmt::format("setting the group of {}", ifname), errno);
  LinkRequest req = link_request(RTM_NEWLINK, static_cast<int>(index), group);
  if (const int rc = rtnl_transact(req); rc != 0) {
    throw Error::from_errno(fmt::format("setting the group of {} to {:#x}", ifname, group), -rc);
  }
}

bool delete_link_group(std::uint32_t group) {
  if (group == 0) throw Error("refusing to delete link group 0 (every device's)", ErrorKind::internal);
  LinkRequest req = link_request(RTM_DELLINK, 0, group);
  const int rc = rtnl_transact(req);
  if (rc == -ENODEV) return false;
  if (rc != 0) throw Error::from_errno(fmt::format("deleting the devices of link group {:#x}", group), -rc);
  return true;
}

}  // namespace slurmvm::netsetup
