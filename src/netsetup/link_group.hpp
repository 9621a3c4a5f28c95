// Interface groups (IFLA_GROUP), so that a job's TAPs go away in one kernel operation. The
// kernel unregisters a device it deletes alone with its own RCU grace periods: about 20-30 ms
// per TAP, so an epilog deleting 64 TAPs one by one took 1.4-2.2 s (bench/node-setup); one
// RTM_DELLINK for the group unregisters them together (25 ms for 64). Two rtnetlink requests,
// no libnl (docs/design.md §4).
#pragma once

#include <cstdint>
#include <string>

namespace slurmvm::netsetup {

// The group of a job's TAPs on a node: slurm-vm's tag in the high half, the job's network id
// (unique among the node's live jobs, prolog step 8) in the low half.
inline constexpr std::uint32_t kLinkGroupTag = 0x53560000;
std::uint32_t tap_link_group(std::uint32_t network_id);

// RTM_NEWLINK with IFLA_GROUP on the named device. Throws Error.
void set_link_group(const std::string& ifname, std::uint32_t group);

// RTM_DELLINK of every device of the group in the calling thread's namespace, at once.
// Returns false when no device is in the group (an undo must be idempotent). Group 0 (every
// device's default) is refused. Throws Error.
bool delete_link_group(std::uint32_t group);

}  // namespace slurmvm::netsetup
