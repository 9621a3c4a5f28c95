// Where `vm boot` puts each VM, from the allocation's environment, and the srun step that starts
// them exactly there: the prolog computed the same places (vm_layout.hpp), and built each VM's
// TAP on its node.
//
// An ordinary allocation: SLURM_JOB_NODELIST and SLURM_JOB_CPUS_PER_NODE, one srun component
// with --distribution=arbitrary over a host file. A heterogeneous one (VMs of several sizes,
// docs/design.md §8): SLURM_HET_SIZE components, each group of the definition on its own
// (SLURM_JOB_NODELIST_HET_GROUP_<k>, SLURM_JOB_CPUS_PER_NODE_HET_GROUP_<k>), one srun component
// per group with its own --cpus-per-task and its nodes listed in task order (-w with repeats).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cluster_def.hpp"
#include "config/identity.hpp"

namespace slurmvm::cli {

// One srun component of the VMs' step.
struct StepComponent {
  std::uint32_t ntasks = 0;
  std::uint32_t cpus_per_task = 0;
  std::vector<std::string> task_nodes;  // heterogeneous only: the node of each task, in order
};

struct BootLayout {
  std::vector<std::string> nodes;         // the job's nodes
  std::vector<std::uint32_t> node_of_vm;  // index into nodes, per VM rank
  std::vector<std::uint32_t> cpus_of_vm;
  bool heterogeneous = false;
  std::vector<StepComponent> components;  // one (ordinary), or one per group
  std::map<std::string, std::uint32_t> node_components;  // heterogeneous: a component per node
};

// Throws Error(system) when Slurm's variables are missing or disagree, Error(usage) when the
// definition's groups do not match a heterogeneous allocation's components (or a definition of
// several sizes meets an ordinary allocation), Error(config) when the CPUs are too few.
BootLayout boot_layout(const ClusterDef& def, const config::EnvLookup& env);

// The host file of an ordinary layout (SLURM_HOSTFILE): the node of task N on line N, which
// makes `srun -m arbitrary` place it there.
std::string boot_hostfile(const BootLayout& layout);

// srun's arguments, without the program, for the VMs' step: `common` in every component, then
// its own sizes (and, heterogeneous, its node list), then `command`; components joined by ":".
std::vector<std::string> vms_step_argv(const BootLayout& layout, const std::vector<std::string>& common,
                                       const std::vector<std::string>& command);

// kCpusPerVmEnv's value (vm_layout.hpp) for vm-launch: "2,1,1", per rank.
std::string cpus_per_vm_env(const BootLayout& layout);

}  // namespace slurmvm::cli
