// An InfiniBand VF's GUIDs and port policy, set through its physical function's sysfs
// (bus/pci/devices/<pf>/sriov/<vf>/{node,port,policy}, which is class/infiniband/<dev>/device/
// sriov/...: as Mellanox's mlx5 driver exposes them and pcocc used them; reached through the PCI
// path, which libibumad's simulator, which takes over class/infiniband, leaves alone): the node and port GUIDs in colon form
// ("c2:cc:20:01:00:05:00:00"), the policy "Down", "Up" or "Follow" (the VF's port follows the
// physical port's state).
//
// Order matters to the fabric: the GUIDs are written before the policy becomes Follow, so the
// VF's port never comes up under a GUID that is not its job's; it goes Down before they are
// given back, so a VF that nobody holds is never seen by the subnet manager.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace slurmvm::vfio {

enum class VfPolicy { down, up, follow };

std::string_view to_string(VfPolicy policy);
// "Down\n", "Follow"... (what sysfs shows); nullopt for anything else.
std::optional<VfPolicy> parse_vf_policy(std::string_view text);

struct VfGuids {
  std::uint64_t node = 0;
  std::uint64_t port = 0;
  bool operator==(const VfGuids&) const = default;
};

// sriov/<vf> of physical function `pf` ("DDDD:BB:SS.F"). Throws Error(not_found) naming the
// function and the VF when the driver exposes no such directory (not an SR-IOV-capable mlx5, or
// sriov_numvfs too low).
std::filesystem::path vf_sriov_dir(const std::filesystem::path& sysfs, std::string_view pf, unsigned vf);

VfGuids read_vf_guids(const std::filesystem::path& sysfs, std::string_view pf, unsigned vf);

// The VF's GUIDs, then its policy: what the prolog gives a VM.
void assign_vf_guids(const std::filesystem::path& sysfs, std::string_view pf, unsigned vf, VfGuids guids,
                     VfPolicy policy);

// Policy Down, then `previous` GUIDs back: what the epilog does. An absent sriov directory is
// success (the VF went with sriov_numvfs).
void release_vf_guids(const std::filesystem::path& sysfs, std::string_view pf, unsigned vf, VfGuids previous);

}  // namespace slurmvm::vfio
