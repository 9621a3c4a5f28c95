// A veth pair with its far end created directly in another network namespace, and the few
// things done inside that namespace to configure it (over rtnetlink and ioctls, no `ip`
// subprocess). What the dnsmasq jail (dnsmasq_jail.hpp) is plugged into the job's network by.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "addressing.hpp"

namespace slurmvm::netsetup {

struct VethPair {
  std::string near;            // in the calling thread's namespace
  std::string far;             // in the other one
  MacAddress far_mac{};
  unsigned mtu = 1500;         // both ends
  std::uint32_t near_group = 0;  // IFLA_GROUP of the near end (link_group.hpp); 0: none
};

// RTM_NEWLINK kind veth, NLM_F_EXCL; the far end is created in the namespace `netns_fd`
// (IFLA_NET_NS_FD). Throws Error.
void create_veth(const VethPair& pair, int netns_fd);

// RTM_DELLINK by name (a veth's other end goes with it). False when no such device exists.
bool delete_link(const std::string& name);

// Runs `f` in a thread that has joined the network namespace `netns_fd` (setns acts on the
// calling thread only), and rethrows what it threw.
void in_netns(int netns_fd, const std::function<void()>& f);

// In the calling thread's namespace: no transmit checksum offload on the device (ETHTOOL_STXCSUM
// 0: the userspace datapath forwards what it reads from a veth as it is, partial checksums
// included), and a default route through `gateway` on it (SIOCADDRT).
void disable_tx_checksum(const std::string& ifname);
void add_default_route(const std::string& ifname, std::uint32_t gateway);

}  // namespace slurmvm::netsetup
