// Verbs that talk to QEMU (QMP, the serial console, the guest agent) need its unix sockets,
// which exist on the VM's node only. From anywhere else, the same `vm` command line runs there
// as a step of the job that shares its resources (`srun --jobid=J --overlap -w NODE`), with
// SLURM_VM_ON_NODE=NODE so that it acts instead of forwarding again. The job's own
// credentials and Slurm's access control apply: a user reaches only their own VMs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "job_files.hpp"

namespace slurmvm::cli {

// Keeps main()'s argv for run_on_node().
void remember_command_line(int argc, char** argv);

// True when this process runs on `node`: SLURM_VM_ON_NODE names it (a forwarded command), or
// the short host name is the node's name.
bool on_node(const std::string& node);

// Runs this `vm` command line (or `vm ARGS...` when `args` is given: a verb with part of a VM
// set) on `node` through srun and returns its exit status. `pty`: an interactive terminal. The
// step goes to the job's component on that node (ClusterFile::step_options); the command there
// acts on `cluster`'s job (kForwardedJobEnv).
int run_on_node(const ClusterFile& cluster, const std::string& node, bool pty,
                const std::vector<std::string>& args = {});

// The virtual cluster's job id, for a command forwarded to a node: there SLURM_JOB_ID is the
// step's job, a component's in a heterogeneous job.
inline constexpr const char* kForwardedJobEnv = "SLURM_VM_JOB_ID";

// Prints what an srun step of ours wrote on stderr, but for srun's summary of its tasks' exit
// codes ("srun: error: node1: task 0: Exited with exit code 3"): the tasks' own messages said
// what failed, and the code is ours already.
void print_srun_errors(const std::string& err);

}  // namespace slurmvm::cli
