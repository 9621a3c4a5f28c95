// Forgetting the kernel's connection-tracking entries that still send a reverse-NAT port to a
// VM that no longer has it.
//
// A connection's NAT is decided by its first packet and kept in its conntrack entry for as long
// as the entry lives: 120 s for a SYN nobody answered, 5 days for an established connection. A
// host port goes from an ended job to a new one (prolog step 9), and an entry left from the old
// job (`vm boot`'s SSH probes of a VM still booting leave dozens) keeps sending a new
// connection with the same source port to the old VM's address, whose subnet is gone: the
// user's `ssh` fails with "Network is unreachable". The 200-job soak (bench/soak) met it twice.
// So every rebuild of the NAT table ends by deleting the DNAT'ed entries of the ports it now
// forwards whose target is not the port's current VM. Nothing else is touched: not the entries
// of ports without a rule (their VM is gone; the job that gets the port next deletes them), nor
// anything that is not a DNAT of one of those ports.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "netsetup/nat.hpp"

namespace slurmvm::netsetup {

// One IPv4 TCP conntrack entry whose destination was NATed, as a dump reports it.
struct NatConnection {
  std::uint16_t orig_dport = 0;  // the port the client connected to (a host port)
  std::uint32_t reply_src = 0;   // where it was sent (host byte order): the VM's address...
  std::uint16_t reply_sport = 0;  // ...and port
  std::vector<unsigned char> orig_tuple;  // CTA_TUPLE_ORIG's nested attributes, to delete it by
};

// Pure. The IPv4 TCP entries with IPS_DST_NAT of a ctnetlink dump (IPCTNL_MSG_CT_GET with
// NLM_F_DUMP). Throws Error for a truncated or malformed dump.
std::vector<NatConnection> parse_nat_connections(std::span<const unsigned char> dump);

// Pure. Those of `connections` whose host port has a rule in `rules` that sends it elsewhere.
std::vector<NatConnection> stale_nat_connections(const std::vector<NatConnection>& connections,
                                                 const std::vector<NatRule>& rules);

// Dumps this network namespace's conntrack table and deletes the stale entries (above); an
// entry that went away meanwhile is not an error. Returns how many were deleted. Throws Error.
std::size_t forget_stale_nat_connections(const std::vector<NatRule>& rules);

}  // namespace slurmvm::netsetup
