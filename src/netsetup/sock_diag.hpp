// The node's listening TCP ports, asked of the kernel's socket-diagnostics netlink family
// (sock_diag(7)) rather than read from /proc/net/tcp: the kernel answers a dump restricted to
// listening sockets from its listening hash alone, while /proc/net/tcp walks the whole
// established-connection hash, whose size grows with the node's memory, not with its sockets
// (~8 ms per prolog on a 24 GiB test VM: docs/prolog-epilog.md §8).
#pragma once

#include <cstdint>
#include <set>
#include <span>

namespace slurmvm::netsetup {

// Local ports of every socket in a SOCK_DIAG_BY_FAMILY dump (inet_diag_msg records up to
// NLMSG_DONE). Throws Error on an NLMSG_ERROR or a truncated message.
std::set<std::uint16_t> parse_inet_diag_ports(std::span<const unsigned char> dump);

// Listening TCP ports of one family (AF_INET, AF_INET6) in the calling thread's network
// namespace, from sock_diag alone. Throws Error (errno ENOENT: no tcp_diag, or no IPv6).
std::set<std::uint16_t> sock_diag_listening_ports(std::uint8_t family);

// Both families' listening TCP ports (a dual-stack listener is in the IPv6 dump). Falls back
// to /proc/thread-self/net/tcp{,6} on a kernel without sock_diag or tcp_diag. Throws Error.
std::set<std::uint16_t> listening_tcp_ports();

}  // namespace slurmvm::netsetup
