// Persistent TAP devices for QEMU, made with /dev/net/tun ioctls (no `ip` subprocess): the
// prolog creates one per VM, owned by the job's user, so that QEMU, running as that user,
// attaches with `-netdev tap,ifname=NAME,script=no,downscript=no`. Everything happens in the
// calling thread's network namespace.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace slurmvm::netsetup {

// Throws Error(config) unless `name` is a safe interface name: 1..15 characters (IFNAMSIZ-1),
// only [A-Za-z0-9_.-], not starting with '-' or '.' (so it can never be read as an option or
// be "." / ".."). Stricter than the kernel on purpose: names end up in argv and flow text.
void validate_ifname(std::string_view name);

struct TapSpec {
  std::string name;
  uid_t owner = 0;   // TUNSETOWNER: this user, and only this user, may attach
  // 1450 leaves room for GRE + key (42 bytes) on a 1500-byte underlay: the userspace tunnel
  // silently drops what does not fit (docs/design.md §7.2).
  unsigned mtu = 1450;
  // QEMU's `queues=N>1` needs IFF_MULTI_QUEUE set when the device is created.
  bool multi_queue = false;
  // IFLA_GROUP (link_group.hpp), so that all of a job's TAPs can be deleted at once; 0: none.
  std::uint32_t link_group = 0;
};

// Creates the TAP (IFF_TAP|IFF_NO_PI; IFF_VNET_HDR is left to QEMU, whose TUNSETIFF sets the
// per-device features when it attaches), sets owner and group, makes it persistent, sets its
// MTU and brings it up. No group is set (tap.cpp says why). Fails with Error if a device of that name already exists
// (IFF_TUN_EXCL): taking over someone else's device is never right.
void create_tap(const TapSpec& spec);

// Deletes a TAP made by create_tap(). Returns false when no such device exists (an undo must
// be idempotent). Throws Error when the device is not a TAP or is still attached (QEMU runs).
bool delete_tap(std::string_view name);

// True when a network device of that name exists in the calling thread's namespace.
bool interface_exists(std::string_view name);

// Sets the device's MTU and brings it up.
void set_mtu_and_up(std::string_view name, unsigned mtu);

// The node's own IP stack must not talk to a VM (or a job's DHCP server) through the device
// that leads to it. With the userspace datapath (OVS reads the TAP through AF_PACKET) the
// kernel also receives every frame the VM sends, and by default it would answer the VM's ARP
// for the gateway address (weak host model: the address sits on the gateway port) with the
// TAP's MAC; the VM would then reach the node's services, and be routed anywhere, around OVS
// and its flows. Call it before the device goes up (the IPv6 link-local address and router
// solicitations come with IFF_UP): no IPv6 on it, no ARP answers on it. The settings go with
// the device. The nftables filter drops what still arrives (nat.hpp, kVmInterfacePrefix).
void keep_host_stack_off(const std::string& name);

}  // namespace slurmvm::netsetup
