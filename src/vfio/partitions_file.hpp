// OpenSM's partitions file as vm-pkeyd writes it (opensm(8), "PARTITION CONFIGURATION"): the
// site's template first, unchanged, then one partition per running job whose pkey holds the
// job's VFs and the physical ports of its nodes as full members. Pure and deterministic (jobs by
// pkey, GUIDs sorted), so that an unchanged set of jobs gives a byte-identical file and OpenSM is
// not asked to re-read it for nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace slurmvm::vfio {

struct JobPartition {
  std::uint32_t job = 0;
  std::uint16_t pkey = 0;                    // 0x0001-0x7ffe
  std::vector<std::uint64_t> vf_guids;       // the job's VFs' port GUIDs
  std::vector<std::uint64_t> host_guids;     // the physical ports of the job's nodes
};

// At most this many GUIDs per definition line (pcocc's figure): OpenSM reads lines of up to
// 4096 bytes, and a partition split over several definitions of the same pkey is merged.
inline constexpr std::size_t kGuidsPerLine = 128;

// The whole file. The VFs' definition carries `indx0`: the job's pkey is the VF's pkey index 0,
// the one a guest's IPoIB interface and verbs use by default; the host ports' does not (index 0
// stays the host's default partition). Throws Error(config) on two jobs with one pkey.
std::string partitions_file(std::string_view template_text, std::vector<JobPartition> jobs);

}  // namespace slurmvm::vfio
