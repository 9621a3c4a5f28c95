// TAPs on host bridges (bridge_port.hpp).
#include "netsetup/bridge_port.hpp"

#include <linux/if_bridge.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <charconv>
#include <fstream>
#include <string_view>

#include <fmt/format.h>

#include "error.hpp"
#include "netsetup/rtnl.hpp"
#include "netsetup/tap.hpp"

namespace slurmvm::netsetup {
namespace {

int ifindex_of(const std::string& name, const char* what) {
  validate_ifname(name);
  const unsigned index = ::if_nametoindex(name.c_str());
  if (index == 0) throw Error::from_errno(fmt::format("{} {}", what, name), errno);
  return static_cast<int>(index);
}

int set_master(int ifindex, int master) {
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = ifindex;
  RtnlMessage req(RTM_NEWLINK, 0, &info, sizeof info);
  req.put(IFLA_MASTER, static_cast<std::uint32_t>(master));
  return req.transact();
}

// `bridge vlan add|del dev TAP vid VID [pvid] [untagged]`: RTM_SETLINK or RTM_DELLINK of
// family AF_BRIDGE with IFLA_AF_SPEC { IFLA_BRIDGE_VLAN_INFO }.
int port_vlan(std::uint16_t type, int ifindex, std::uint16_t vid, std::uint16_t flags) {
  ifinfomsg info{};
  info.ifi_family = AF_BRIDGE;
  info.ifi_index = ifindex;
  RtnlMessage req(type, 0, &info, sizeof info);
  const auto nest = req.begin_nest(IFLA_AF_SPEC);
  bridge_vlan_info vlan{};
  vlan.flags = flags;
  vlan.vid = vid;
  req.put(IFLA_BRIDGE_VLAN_INFO, vlan);
  req.end_nest(nest);
  return req.transact();
}

// The bridge's default_pvid (1 unless the site changed it; 0: none).
std::uint16_t default_pvid(const std::string& bridge) {
  std::ifstream in(fmt::format("/sys/class/net/{}/bridge/default_pvid", bridge));
  unsigned v = 1;
  if (!(in >> v) || v > 4094) return 1;
  return static_cast<std::uint16_t>(v);
}

}  // namespace

void check_host_bridge(const std::string& bridge, bool needs_vlan_filtering) {
  validate_ifname(bridge);
  // if_nametoindex asks the kernel through a socket of the calling thread's namespace; /sys
  // may show another one. Whether it is a bridge, the kernel says when the TAP joins it.
  if (::if_nametoindex(bridge.c_str()) == 0) {
    throw Error(fmt::format("host bridge {} does not exist on this node (networks.yaml host-bridge)", bridge),
                ErrorKind::config);
  }
  if (needs_vlan_filtering && bridge_vlan_filtering(bridge) != true) {
    throw Error(fmt::format("host bridge {} does not filter VLANs (vlan_filtering=0, or no Linux bridge), so the "
                            "network's vlans: would not confine the VMs: turn VLAN filtering on (ip link set {} "
                            "type bridge vlan_filtering 1) or drop vlans: from networks.yaml",
                            bridge, bridge),
                ErrorKind::config);
  }
}

std::optional<bool> bridge_vlan_filtering(const std::string& name) {
  validate_ifname(name);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  const auto bytes = rtnl_dump(RTM_GETLINK, &info, sizeof info);
  std::optional<bool> out;
  for_each_rtnl_message(bytes, [&](std::uint16_t type, std::span<const unsigned char> payload) {
    if (type != RTM_NEWLINK || payload.size() < sizeof(ifinfomsg)) return;
    std::string ifname;
    bool bridge = false;
    bool filtering = false;
    for_each_rtnl_attr(payload, sizeof(ifinfomsg), [&](std::uint16_t attr, std::span<const unsigned char> data) {
      if (attr == IFLA_IFNAME) {
        ifname.assign(reinterpret_cast<const char*>(data.data()), ::strnlen(reinterpret_cast<const char*>(data.data()), data.size()));
      } else if ((attr & NLA_TYPE_MASK) == IFLA_LINKINFO) {
        for_each_rtnl_attr(data, 0, [&](std::uint16_t info_attr, std::span<const unsigned char> info_data) {
          if (info_attr == IFLA_INFO_KIND) {
            bridge = std::string_view(reinterpret_cast<const char*>(info_data.data()), info_data.size()).starts_with("bridge");
          } else if ((info_attr & NLA_TYPE_MASK) == IFLA_INFO_DATA) {
            for_each_rtnl_attr(info_data, 0, [&](std::uint16_t br_attr, std::span<const unsigned char> br_data) {
              if (br_attr == IFLA_BR_VLAN_FILTERING && !br_data.empty()) filtering = br_data[0] != 0;
            });
          }
        });
      }
    });
    if (ifname == name && bridge) out = filtering;
  });
  return out;
}

void attach_to_bridge(const std::string& tap, const std::string& bridge, const std::vector<config::Vlan>& vlans) {
  with_context(fmt::format("putting {} on bridge {}", tap, bridge), [&] {
    const int port = ifindex_of(tap, "TAP");
    const int master = ifindex_of(bridge, "bridge");
    if (const int rc = set_master(port, master); rc == -EOPNOTSUPP) {
      throw Error(fmt::format("{} is not a Linux bridge (networks.yaml host-bridge)", bridge), ErrorKind::config);
    } else if (rc != 0) {
      throw Error::from_errno("IFLA_MASTER", -rc);
    }
    if (vlans.empty()) return;
    bool keep_default = false;
    const std::uint16_t pvid = default_pvid(bridge);
    for (const auto& v : vlans) {
      std::uint16_t flags = 0;
      if (v.mode == config::VlanMode::native) flags = BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED;
      if (v.mode == config::VlanMode::untagged) flags = BRIDGE_VLAN_INFO_UNTAGGED;
      if (v.vid == pvid) keep_default = true;
      if (const int rc = port_vlan(RTM_SETLINK, port, static_cast<std::uint16_t>(v.vid), flags); rc != 0) {
        throw Error::from_errno(fmt::format("adding VLAN {}", v.vid), -rc);
      }
    }
    if (pvid != 0 && !keep_default) {
      // ENOENT/EINVAL: not a member (a bridge without vlan_filtering keeps no entries).
      const int rc = port_vlan(RTM_DELLINK, port, pvid, 0);
      if (rc != 0 && rc != -ENOENT && rc != -EINVAL) throw Error::from_errno(fmt::format("removing VLAN {}", pvid), -rc);
    }
  });
}

bool detach_from_bridge(const std::string& tap) {
  validate_ifname(tap);
  const unsigned index = ::if_nametoindex(tap.c_str());
  if (index == 0) return false;
  if (const int rc = set_master(static_cast<int>(index), 0); rc != 0 && rc != -ENODEV) {
    throw Error::from_errno(fmt::format("taking {} off its bridge", tap), -rc);
  }
  return true;
}

}  // namespace slurmvm::netsetup
