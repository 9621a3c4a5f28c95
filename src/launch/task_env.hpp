// What a vm-launch task learns from its environment: which job and VM it is, where it runs, how
// many CPUs and how much memory Slurm gave it, and whose home holds the job directory. Read
// through an EnvLookup so that tests supply their own environment.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/identity.hpp"

namespace slurmvm::launch {

struct TaskEnv {
  std::uint32_t job_id = 0;  // SLURM_JOB_ID
  std::uint32_t rank = 0;    // SLURM_PROCID: the VM's rank in the cluster definition
  std::optional<std::uint32_t> step_id;  // SLURM_STEP_ID: `vm boot` signals this step to stop the VMs
  std::string node;          // SLURMD_NODENAME, else the host name
  // SLURM_CPUS_PER_TASK, else the number of CPUs the task may run on.
  std::uint32_t cpus = 0;
  std::uint32_t local_id = 0;  // SLURM_LOCALID: the task's index among the step's on this node
  std::optional<std::uint64_t> mem_per_cpu_mib;   // SLURM_MEM_PER_CPU
  std::optional<std::uint64_t> mem_per_node_mib;  // SLURM_MEM_PER_NODE
  // VMs of this step on this node: SLURM_STEP_TASKS_PER_NODE (else SLURM_TASKS_PER_NODE) at
  // index SLURM_NODEID, else SLURM_NTASKS_PER_NODE.
  std::optional<std::uint32_t> tasks_on_node;
  std::string home;  // HOME, else the password database
  std::string user;
};

// `affinity` is the CPU list the task may run on (sched_getaffinity). Throws
// Error(ErrorKind::usage) naming the variable when a required one is missing or malformed:
// vm-launch is meant to run as a Slurm task, and the message says so.
TaskEnv read_task_env(const config::EnvLookup& env, const std::vector<int>& affinity);

}  // namespace slurmvm::launch
