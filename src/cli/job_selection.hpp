// Which virtual cluster a verb acts on, the same for every verb that takes one: -j JOBID, else
// -J NAME (pcocc's --jobname: the user's running cluster of that Slurm job name), else
// $SLURM_JOB_ID inside an allocation, else the user's only running virtual cluster. Several
// candidates are an error that lists them; nothing is ever guessed among them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace slurmvm::cli {

struct JobSelection {
  std::uint32_t id = 0;  // -j; 0: not given
  std::string name;      // -J; empty: not given
  std::string user;      // --user (pcocc's admin option): root acts on this user's clusters, as them
};

// Declares -j/--jobid and -J/--jobname/--job-name on `cmd`, and pcocc's admin --user unless the
// verb gives --user its own meaning (vm run: the user in the guests, as pcocc's run).
void add_job_options(CLI::App* cmd, JobSelection& selection, bool admin_user = true);

// One of the user's running jobs that has a virtual cluster.
struct RunningCluster {
  std::uint32_t id = 0;
  std::string name;
};

// Pure: the job `selection` means among `running` when neither -j nor $SLURM_JOB_ID decided
// (`env_job_id` 0). Error(not_found) when none fits, Error(usage) listing them when several do.
std::uint32_t pick_job(const JobSelection& selection, std::uint32_t env_job_id,
                       const std::vector<RunningCluster>& running);

// The job the user means, asking squeue (one call, 20 s deadline) only when -j and
// $SLURM_JOB_ID do not say. With --user, first becomes that user (act_as_cluster_owner).
std::uint32_t resolve_job(const JobSelection& selection);

// --user USER: root takes USER's identity for the rest of the command (groups, gid, uid, HOME,
// USER, LOGNAME; no Slurm job variables of root's), so that everything of theirs is opened with
// their credentials, as Slurm lets root act on any job: a link planted in their home reaches
// nothing they could not. USER being oneself changes nothing. Error(not_found) for an unknown
// user, Error(usage) when a user other than root asks.
void act_as_cluster_owner(const std::string& user);

}  // namespace slurmvm::cli
