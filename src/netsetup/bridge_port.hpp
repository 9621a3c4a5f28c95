// Bridged NICs (networks.yaml type `bridged`): the VM's TAP becomes a port of an existing Linux
// bridge of the host, with the network's VLANs, over rtnetlink (what `ip link set master` and
// `bridge vlan add` send). The bridge is the site's: slurm-vm never creates, changes or
// deletes it, only its own TAPs' membership and VLAN entries, which go with the TAP.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/network.hpp"

namespace slurmvm::netsetup {

// Throws Error(config) unless `bridge` exists in the calling thread's namespace: a node
// missing its site bridge is a node fault. With `needs_vlan_filtering` (the network sets
// `vlans:`), also unless it is a Linux bridge with vlan_filtering=1: without it a VLAN entry
// filters nothing and the guest may send frames tagged for any VLAN the uplink trunks.
void check_host_bridge(const std::string& bridge, bool needs_vlan_filtering = false);

// What the kernel says of the bridge over rtnetlink (RTM_GETLINK; /sys may show another
// namespace): nullopt when `name` is no Linux bridge, else whether VLAN filtering is on.
std::optional<bool> bridge_vlan_filtering(const std::string& name);

// Makes `tap` a port of `bridge` (IFLA_MASTER; Error(config) when it is no Linux bridge). With VLANs: each is added to the port
// (native: PVID and egress untagged; untagged: egress untagged; tagged: tagged), and the
// bridge's default PVID is taken off the port unless it is one of them, so that the VM sees
// only its own VLANs (the default PVID is read from sysfs, 1 when /sys shows another
// namespace). VLANs only filter on a bridge with vlan_filtering=1, the site's choice.
// Throws Error naming the TAP and the bridge.
void attach_to_bridge(const std::string& tap, const std::string& bridge, const std::vector<config::Vlan>& vlans);

// Takes `tap` off whatever bridge it is a port of. Returns false when the device is gone (an
// undo must be idempotent).
bool detach_from_bridge(const std::string& tap);

}  // namespace slurmvm::netsetup
