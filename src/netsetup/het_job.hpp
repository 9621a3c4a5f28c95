// A heterogeneous job as slurmctld describes it, for the prolog of one of its components: slurmd
// gives that prolog its own component only (docs/design.md §7.10), but the VMs of the other
// components are on the same virtual network and the node needs their nodes (§8). Parsed as
// text, from two commands whose output the prolog captures:
//
//   squeue --noheader --jobs=HET --format=%A|%i|%N|%C
//     one line per component: its job id, "HET+OFFSET", its node list, its CPU count. No field
//     of it is the user's.
//   scontrol --details --oneliner show job HET
//     one line per component, with "Nodes=LIST CPU_IDs=IDS" per set of nodes: the CPUs on each
//     node. The same lines hold the user's job name, work directory and command, which could
//     imitate those pairs, or start a line of their own with a newline.
//
// So the second is believed only where the first agrees: every component's pairs must name
// each of its nodes exactly once and add up to its CPU count. Text a user wrote can then only
// make their own job fail to start, never move its VMs.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "netsetup/reclaim.hpp"
#include "vm_layout.hpp"

namespace slurmvm::netsetup {

// The components of heterogeneous job `het_job_id`, by offset. Throws Error(ErrorKind::config)
// naming what disagrees.
std::vector<ComponentAllocation> parse_het_components(std::uint32_t het_job_id, std::string_view squeue_text,
                                                      std::string_view scontrol_text);

// Asks slurmctld (squeue then scontrol, each under `query`'s deadline, as reclaim does) and
// parses their answers. A failure is the job's (JobError): slurmctld unreachable for a moment
// does not make the node faulty.
std::vector<ComponentAllocation> query_het_components(const SlurmQuery& query, std::uint32_t het_job_id);

// "0-1,4,6-7" -> 5: the CPUs of a CPU_IDs list. Throws Error(ErrorKind::config).
std::uint32_t count_cpu_ids(std::string_view text);

}  // namespace slurmvm::netsetup
