// Reclaiming what jobs whose epilog never ran left on a node (slurmd killed or the node
// crashed while they ended): the next prolog on the node asks slurmctld which jobs are still
// alive here and cleans up after the others with the epilog's own undo (clean_job). Without a
// trustworthy answer nothing is reclaimed: undoing a live job's network would cut its VMs off,
// which is worse than a leftover. docs/prolog-epilog.md §2 step 7.
#pragma once

#include <chrono>
#include <filesystem>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "subprocess.hpp"

#include "netsetup/node_job.hpp"

namespace slurmvm::netsetup {

// Pure. Parses `squeue --noheader --format='%A %i %T' --states=all` output ("<job id> <as
// shown> <STATE>" per line; shown is "HET+OFFSET" for a heterogeneous job's component, whose
// HET then counts too) into the jobs that are not finished: every state counts as alive except the final
// ones (COMPLETED, CANCELLED, FAILED, TIMEOUT, NODE_FAIL, PREEMPTED, BOOT_FAIL, DEADLINE,
// OUT_OF_MEMORY), so a state this code does not know keeps its job. Any line that does not
// parse makes the whole answer untrustworthy: nullopt.
std::optional<std::set<std::uint32_t>> parse_live_jobs(std::string_view squeue_output);

struct SlurmQuery {
  std::string squeue = "/usr/bin/squeue";
  std::string scontrol = "/usr/bin/scontrol";
  // SLURM_CONF from the prolog's environment (slurmd sets it), passed on to squeue; empty: unset.
  std::string slurm_conf;
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};

  // `argv` (its program one of the above) as a child of a root helper: the fixed PATH,
  // SLURM_CONF when known, the deadline.
  Command command(std::vector<std::string> argv) const;
};

// The jobs slurmctld says are alive on `node`, or nullopt (with a warning) when squeue fails,
// times out or says something that does not parse.
std::optional<std::set<std::uint32_t>> live_jobs_on_node(const SlurmQuery& query, const std::string& node);

struct ReclaimReport {
  std::set<std::uint32_t> reclaimed;  // cleaned completely
  std::set<std::uint32_t> failed;     // an undo failed: left for the next prolog (or an admin)
  bool skipped = false;               // Slurm's answer was missing or untrustworthy
};

// Pure. The job id of a slurmstepd's command line ("slurmstepd: [42.extern]", "[42.0]",
// "[42.batch]", a heterogeneous component's "[42+1.0]" counts as 42's), or nullopt for any other
// process. /proc/<pid>/cmdline holds what slurmstepd set (setproctitle).
std::optional<std::uint32_t> stepd_job(std::string_view cmdline);

// The jobs with a slurmstepd on this node (a scan of `proc`'s processes): alive here, whatever
// slurmctld would say. Processes that vanish meanwhile are skipped.
std::set<std::uint32_t> jobs_with_stepd(const std::filesystem::path& proc = "/proc");

// Cleans up after every job with leftovers on this node (jobs_with_leftovers) that slurmctld
// does not list as alive here, except `current_job` and the jobs with a slurmstepd on the node
// (jobs_with_stepd of `proc`, looked at only when another job has leftovers; empty: not looked
// at). The caller holds the node lock, so no prolog or
// epilog of this node runs meanwhile. Asks slurmctld only when a job is left to judge: a node
// whose other VM jobs all run (with PrologFlags=Contain each has its extern step from its
// allocation on) asks nothing. Trusts the answer only if it lists `current_job` (which is being
// set up here, so an answer without it is about another cluster, or stale).
ReclaimReport reclaim_stale_jobs(const NodePaths& paths, const SlurmQuery& query, const std::string& node,
                                 std::uint32_t current_job, const std::filesystem::path& proc = {});

}  // namespace slurmvm::netsetup
