// Which host PCI functions a job's VMs on this node get for their passthrough networks
// (job_networks.hpp: infiniband, host-infiniband, genericpci), chosen before any change is
// made: the node's sysfs as NodeEffects reads it, and the functions the node's other jobs'
// ledgers hold (a VF another prolog has recorded but not yet bound is not free). Too few free is
// the job's fault (JobError naming the network, the node and the counts), never a node drain.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "netsetup/node_effects.hpp"
#include "netsetup/node_plan.hpp"

namespace slurmvm::netsetup {

struct PlannedDevice {
  std::uint32_t rank = 0;
  std::uint32_t passthrough = 0;  // index in JobNetworks::passthrough
  std::string bdf;
  std::optional<std::string> give_back_to;  // the driver after the job (none: left unbound)
  unsigned group = 0;                       // IOMMU group
  std::optional<unsigned> vf;               // InfiniBand: the VF's index on its HCA
  std::string pf;                           // InfiniBand: the HCA's physical function
  std::vector<std::string> together;        // the other functions of the same device
};

// In rank order, each VM's devices in the order of its resource set's networks.
std::vector<PlannedDevice> choose_devices(NodeEffects& fx, const NodePlan& plan, const std::string& node);

}  // namespace slurmvm::netsetup
