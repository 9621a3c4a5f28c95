// Interface groups over rtnetlink (link_group.hpp).
#include "netsetup/link_group.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <cerrno>

#include <fmt/format.h>

#include "error.hpp"
#include "netsetup/rtnl.hpp"
#include "netsetup/tap.hpp"

namespace slurmvm::netsetup {
namespace {

RtnlMessage link_request(std::uint16_t type, int ifindex, std::uint32_t group) {
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = ifindex;
  RtnlMessage req(type, 0, &info, sizeof info);
  req.put(IFLA_GROUP, group);
  return req;
}

}  // namespace

std::uint32_t tap_link_group(std::uint32_t network_id) { return kLinkGroupTag | (network_id & 0xffff); }

void set_link_group(const std::string& ifname, std::uint32_t group) {
  validate_ifname(ifname);
  const unsigned index = ::if_nametoindex(ifname.c_str());
  if (index == 0) throw Error::from_errno(fmt::format("setting the group of {}", ifname), errno);
  if (const int rc = link_request(RTM_NEWLINK, static_cast<int>(index), group).transact(); rc != 0) {
    throw Error::from_errno(fmt::format("setting the group of {} to {:#x}", ifname, group), -rc);
  }
}

bool delete_link_group(std::uint32_t group) {
  if (group == 0) throw Error("refusing to delete link group 0 (every device's)", ErrorKind::internal);
  const int rc = link_request(RTM_DELLINK, 0, group).transact();
  if (rc == -ENODEV) return false;
  if (rc != 0) throw Error::from_errno(fmt::format("deleting the devices of link group {:#x}", group), -rc);
  return true;
}

}  // namespace slurmvm::netsetup
