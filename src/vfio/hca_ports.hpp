// A node's InfiniBand HCA as the verbs stack knows it, read through libibumad (umad_get_ca: the
// same library OpenSM and infiniband-diags use; no guessing of sysfs paths): its node GUID and
// its ports' GUIDs, which become full members of each job's partition on the node (pkey_store).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace slurmvm::vfio {

struct HcaPort {
  int number = 0;
  std::uint64_t guid = 0;   // host byte order
  std::string link_layer;  // "InfiniBand" ("IB" under ibsim), or "Ethernet" for RoCE
  unsigned state = 0;       // 1 down ... 4 active
};

struct Hca {
  std::string name;
  std::uint64_t node_guid = 0;
  std::vector<HcaPort> ports;
};

// Throws Error(not_found) naming the device and what the node has when libibumad does not know
// it (no such HCA, ib_umad not loaded), Error(system) for another failure.
Hca read_hca(std::string_view name);

// The GUIDs of the HCA's InfiniBand ports (not Ethernet: RoCE has no partitions), in port order:
// the node's full members of a job's partition. Pure.
std::vector<std::uint64_t> partition_member_guids(const Hca& hca);

}  // namespace slurmvm::vfio
