// networks.yaml's outbound settings of an ethernet network (`allow-outbound`, `cluster-networks`):
// what VMs may reach through their node (docs/security.md). Internal to network.cpp.
#pragma once

#include "config/network.hpp"

namespace slurmvm::config {

// Reads `allow-outbound` (none, all, external, or a list of {to, proto, ports}) and
// `cluster-networks` into `n`. Throws Error(config) at the offending key.
void read_outbound_settings(Mapping& settings, EthernetNetwork& n);

}  // namespace slurmvm::config
