// veth pairs across network namespaces (netns_link.hpp).
#include "netsetup/netns_link.hpp"

#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/veth.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>

#include <fmt/format.h>

#include "error.hpp"
#include "netsetup/ifreq_util.hpp"
#include "netsetup/rtnl.hpp"
#include "netsetup/tap.hpp"
#include "unique_fd.hpp"

namespace slurmvm::netsetup {
void create_veth(const VethPair& pair, int netns_fd) {
  validate_ifname(pair.near);
  validate_ifname(pair.far);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  RtnlMessage req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &info, sizeof info);
  req.put(IFLA_IFNAME, pair.near.c_str(), pair.near.size() + 1);
  req.put(IFLA_MTU, std::uint32_t{pair.mtu});
  if (pair.near_group != 0) req.put(IFLA_GROUP, pair.near_group);
  const auto linkinfo = req.begin_nest(IFLA_LINKINFO);
  req.put(IFLA_INFO_KIND, "veth", 5);
  const auto data = req.begin_nest(IFLA_INFO_DATA);
  const auto peer = req.begin_nest(VETH_INFO_PEER);
  ifinfomsg peer_info{};
  peer_info.ifi_family = AF_UNSPEC;
  req.put_header(&peer_info, sizeof peer_info);
  req.put(IFLA_IFNAME, pair.far.c_str(), pair.far.size() + 1);
  req.put(IFLA_MTU, std::uint32_t{pair.mtu});
  req.put(IFLA_ADDRESS, pair.far_mac.data(), pair.far_mac.size());
  req.put(IFLA_NET_NS_FD, static_cast<std::uint32_t>(netns_fd));
  req.end_nest(peer);
  req.end_nest(data);
  req.end_nest(linkinfo);
  if (const int rc = req.transact(); rc != 0) {
    throw Error::from_errno(fmt::format("creating veth {} (its other end {} in another namespace)", pair.near, pair.far),
                            -rc);
  }
}

bool delete_link(const std::string& name) {
  validate_ifname(name);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  RtnlMessage req(RTM_DELLINK, 0, &info, sizeof info);
  req.put(IFLA_IFNAME, name.c_str(), name.size() + 1);
  const int rc = req.transact();
  if (rc == -ENODEV) return false;
  if (rc != 0) throw Error::from_errno("deleting " + name, -rc);
  return true;
}

void in_netns(int netns_fd, const std::function<void()>& f) {
  std::exception_ptr failure;
  std::thread worker([&] {
    try {
      if (::setns(netns_fd, CLONE_NEWNET) != 0) throw Error::from_errno("setns(CLONE_NEWNET)", errno);
      f();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  worker.join();
  if (failure) std::rethrow_exception(failure);
}

void disable_tx_checksum(const std::string& ifname) {
  const auto s = inet_socket();
  ethtool_value off{};
  off.cmd = ETHTOOL_STXCSUM;
  off.data = 0;
  ifreq ifr = ifreq_for(ifname);
  ifr.ifr_data = reinterpret_cast<char*>(&off);
  if (::ioctl(s.get(), SIOCETHTOOL, &ifr) != 0) {
    throw Error::from_errno("turning transmit checksum offload off on " + ifname, errno);
  }
}

void add_default_route(const std::string& ifname, std::uint32_t gateway) {
  validate_ifname(ifname);
  const auto s = inet_socket();
  rtentry rt{};
  put_ipv4(rt.rt_dst, 0);
  put_ipv4(rt.rt_genmask, 0);
  put_ipv4(rt.rt_gateway, gateway);
  rt.rt_flags = RTF_UP | RTF_GATEWAY;
  std::string dev = ifname;
  rt.rt_dev = dev.data();
  if (::ioctl(s.get(), SIOCADDRT, &rt) != 0) {
    throw Error::from_errno(fmt::format("adding the default route via {} on {}", format_ipv4(gateway), ifname), errno);
  }
}

}  // namespace slurmvm::netsetup
