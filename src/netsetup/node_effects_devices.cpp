// The real node's passthrough effects (node_effects.hpp): PCI functions, VFIO groups, VF GUIDs
// and partition keys, through src/vfio.
#include <fmt/format.h>

#include "error.hpp"
#include "log.hpp"
#include "netsetup/host_changes.hpp"
#include "netsetup/node_effects.hpp"
#include "vfio/hca_ports.hpp"
#include "vfio/pci_bind.hpp"
#include "vfio/pci_devices.hpp"

namespace fs = std::filesystem;

namespace slurmvm::netsetup {

// A driver change is synchronous in the kernel; mlx5 tearing a VF's host netdev down can take
// seconds on a loaded node.
constexpr std::chrono::seconds kDriverTimeout{20};
// The pkey store's lock is held for milliseconds; a whole job's nodes join at once.
constexpr std::chrono::seconds kPkeyStoreTimeout{30};

std::vector<std::uint64_t> RealNodeEffects::hca_port_guids(const std::string& hca) {
  return vfio::partition_member_guids(vfio::read_hca(hca));
}

std::uint16_t RealNodeEffects::join_pkey(const vfio::PkeyStoreSpec& store, const std::string& network,
                                         vfio::PkeyRange range, std::uint32_t job, const std::string& node,
                                         const std::function<vfio::NodeMembers(std::uint16_t)>& members) {
  return vfio::open_pkey_store(store, kPkeyStoreTimeout)->join(network, range, job, node, members);
}

void RealNodeEffects::leave_pkey(const vfio::PkeyStoreSpec& store, const std::string& network, std::uint32_t job,
                                 const std::string& node) {
  vfio::open_pkey_store(store, kPkeyStoreTimeout)->leave(network, job, node);
}

std::string RealNodeEffects::hca_function(const std::string& hca) {
  return vfio::ib_device_function(paths_.devices.sysfs, hca);
}

std::vector<vfio::VfState> RealNodeEffects::vfs_of(const std::string& pf) {
  return vfio::list_vfs(paths_.devices.sysfs, pf);
}

vfio::PciFunction RealNodeEffects::pci_function(const std::string& bdf) {
  return vfio::read_pci_function(paths_.devices.sysfs, bdf);
}

std::vector<std::string> RealNodeEffects::slot_functions(const std::string& slot) {
  return vfio::slot_functions(paths_.devices.sysfs, slot);
}

std::set<std::string> RealNodeEffects::held_pci_functions(std::uint32_t exclude) {
  std::set<std::string> held;
  for (const auto job : list_ledgers(paths_.ledger_dir())) {
    if (job == exclude) continue;
    try {
      for (const auto& entry : read_ledger(ledger_path(paths_.ledger_dir(), job)).entries) {
        if (entry.action.value("op", "") != change::PciVfio::op) continue;
        held.insert(std::get<change::PciVfio>(parse_change(entry.action)).bdf);
      }
    } catch (const Error& e) {
      // Gone meanwhile (its epilog finished): it holds nothing. Unreadable: what it holds is
      // unknown, and handing out a function another job may still have is worse than failing.
      if (e.kind() == ErrorKind::not_found) continue;
      throw Error(fmt::format("the ledger of job {} cannot be read, so which PCI functions it holds is unknown: {}",
                              job, e.what()),
                  ErrorKind::system);
    }
  }
  return held;
}

vfio::VfGuids RealNodeEffects::vf_guids(const std::string& pf, unsigned vf) {
  return vfio::read_vf_guids(paths_.devices.sysfs, pf, vf);
}

void RealNodeEffects::assign_vf_guids(const std::string& pf, unsigned vf, vfio::VfGuids guids) {
  vfio::assign_vf_guids(paths_.devices.sysfs, pf, vf, guids, vfio::VfPolicy::follow);
}

void RealNodeEffects::release_vf_guids(const std::string& pf, unsigned vf, vfio::VfGuids previous) {
  vfio::release_vf_guids(paths_.devices.sysfs, pf, vf, previous);
}

unsigned RealNodeEffects::bind_vfio(const std::string& bdf, const std::vector<std::string>& together) {
  return vfio::bind_to_vfio(paths_.devices, bdf, deadline_in(kDriverTimeout), together);
}

void RealNodeEffects::return_to_driver(const std::string& bdf, const std::optional<std::string>& driver) {
  vfio::return_to_driver(paths_.devices, bdf, driver, deadline_in(kDriverTimeout));
}

void RealNodeEffects::set_vfio_owner(unsigned group, uid_t uid, gid_t gid) {
  vfio::set_vfio_group_owner(paths_.devices, group, uid, gid);
}

}  // namespace slurmvm::netsetup
