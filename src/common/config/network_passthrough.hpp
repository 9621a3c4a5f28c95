// networks.yaml's settings of the network types that pass a host device through to the VMs
// (pcocc's keys, pcocc-anatomy §2.3): `infiniband` (an SR-IOV VF per VM, a partition key per
// job), `host-infiniband` (the host's HCA) and `genericpci` (listed PCI devices). Internal to
// network.cpp, which dispatches on the type.
#pragma once

#include "config/network.hpp"

namespace slurmvm::config {

// Each reads the `settings` mapping of its type; throws Error(config) at the offending key.
InfinibandNetwork read_infiniband_settings(Mapping& settings);
HostInfinibandNetwork read_host_infiniband_settings(Mapping& settings);
GenericPciNetwork read_generic_pci_settings(Mapping& settings);

}  // namespace slurmvm::config
