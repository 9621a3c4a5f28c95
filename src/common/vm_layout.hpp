// Where each VM of a job runs, computed the same way by the root prolog (to build only this
// node's TAPs), by `vm alloc` (which starts the VMs' step with exactly this placement through
// srun's arbitrary distribution) and by `vm list`. Inputs are what every one of them can see:
// the job's node list, its CPUs per node (SLURM_JOB_CPUS_PER_NODE) and the VM count.
//
// Rule: every VM gets the same number of CPUs, the largest count c for which the nodes hold
// all VMs (sum over nodes of floor(cpus/c) >= VMs); VMs then fill the nodes in order, rank 0
// first (Slurm's block distribution). `-n 3 -c 1` on nodes allocated 2+1 CPUs gives vm0, vm1
// on the first node and vm2 on the second.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace slurmvm {

// The CPUs of each VM ("2,1,1", per rank), which `vm boot` gives vm-launch in a heterogeneous
// step: there every task sees one component's SLURM_CPUS_PER_TASK, not its own (Slurm 22.05).
inline constexpr const char* kCpusPerVmEnv = "SLURM_VM_CPUS_PER_VM";

struct VmLayout {
  std::uint32_t cpus_per_vm = 0;
  std::vector<std::uint32_t> node_of_vm;  // index into the job's node list, per VM rank

  // Ranks of the VMs on node `node_index`, in increasing order.
  std::vector<std::uint32_t> vms_on(std::uint32_t node_index) const;
};

// Throws Error(ErrorKind::config) when the nodes have fewer CPUs than VMs, or when the
// lists disagree in length.
VmLayout compute_vm_layout(std::span<const std::uint32_t> cpus_per_node, std::uint32_t vm_count);

// One component of a heterogeneous job, as Slurm allocated it: its nodes and their CPUs.
struct ComponentAllocation {
  std::uint32_t job_id = 0;  // the component's own job id
  std::vector<std::string> nodes;
  std::vector<std::uint32_t> cpus_per_node;
};

// A cluster whose groups differ in size runs as a heterogeneous job, component k holding group
// k (docs/design.md §8): each group is laid out on its component's nodes as compute_vm_layout
// does. The job's node list is every component's nodes in the order they first appear
// (components may share a node).
struct HetLayout {
  std::vector<std::string> nodes;
  std::vector<std::uint32_t> node_of_vm;  // index into `nodes`, per VM rank
  std::vector<std::uint32_t> cpus_of_vm;
  std::vector<VmLayout> components;       // group k on component k's own node list
};

// Throws Error(ErrorKind::config) when the counts differ or a component holds too few CPUs
// for its group.
HetLayout compute_het_layout(std::span<const std::uint32_t> group_counts,
                             std::span<const ComponentAllocation> components);


}  // namespace slurmvm
