// InfiniBand GUIDs: the node and port GUIDs vm-prolog gives a job's VFs, and their spellings.
//
// A VF's GUIDs are derived, not drawn: from the job's partition key (unique among running jobs,
// pkey_store.hpp) and the VM's rank (unique in the job), so two running VMs never share one
// and vm-pkeyd can name the job's members without asking the nodes. pcocc's scheme
// (0xc0cc<pkey>00<rank>00, pcocc-anatomy §3) with one fix: the first byte has the EUI-64
// "locally administered" bit (0x02) set, so a derived GUID can never be a vendor's real one.
//
//   port GUID  c2:cc:PP:PP:00:RR:RR:00      node GUID  d2:cc:PP:PP:00:RR:RR:00
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace slurmvm::vfio {

inline constexpr std::uint32_t kMaxGuidRank = 0xffff;

// Throws Error(internal) for a pkey outside 0x0001-0x7ffe or a rank above kMaxGuidRank.
std::uint64_t vf_port_guid(std::uint16_t pkey, std::uint32_t rank);
std::uint64_t vf_node_guid(std::uint16_t pkey, std::uint32_t rank);

// host-infiniband VFs have no job partition: their GUIDs derive from the job id (unique among
// running jobs) and the rank, under another prefix so that they never meet a pkey-derived one.
//   port GUID  c6:cc:JJ:JJ:JJ:JJ:RR:RR      node GUID  d6:cc:JJ:JJ:JJ:JJ:RR:RR
std::uint64_t host_vf_port_guid(std::uint32_t job, std::uint32_t rank);
std::uint64_t host_vf_node_guid(std::uint32_t job, std::uint32_t rank);

// "0xc2cc200100000500": OpenSM's partitions file, ibstat, smpquery.
std::string format_guid(std::uint64_t guid);
// "c2:cc:20:01:00:05:00:00"... in bytes order: what mlx5's sysfs sriov/<vf>/{node,port} take.
std::string format_guid_colon(std::uint64_t guid);

// Either spelling back ("0x" and 16 hex digits, with or without the 0x; or 8 colon-separated
// bytes); surrounding whitespace is ignored (sysfs and ibstat end lines with '\n'). nullopt when
// it is neither.
std::optional<std::uint64_t> parse_guid(std::string_view text);

}  // namespace slurmvm::vfio
