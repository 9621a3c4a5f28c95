// Choosing a job's passthrough devices on a node (device_plan.hpp).
#include "netsetup/device_plan.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "error.hpp"
#include "netsetup/job_error.hpp"
#include "vfio/vf_select.hpp"

namespace slurmvm::netsetup {
namespace {

// The IOMMU group without which VFIO cannot pass the function: a node fault (the site listed
// the device, the node's IOMMU is off).
unsigned group_of(const vfio::PciFunction& f) {
  if (!f.iommu_group) {
    throw Error(fmt::format("PCI function {} has no IOMMU group: VFIO needs the IOMMU on (intel_iommu=on or "
                            "amd_iommu=on on the kernel command line)",
                            f.bdf),
                ErrorKind::system);
  }
  return *f.iommu_group;
}

std::vector<PlannedDevice> choose_vfs(NodeEffects& fx, const JobPassthrough& p, const std::vector<std::uint32_t>& ranks,
                                      const std::set<std::string>& held, const std::string& node) {
  std::vector<vfio::VfState> vfs;
  std::string pf;
  try {
    pf = fx.hca_function(p.host_device);
    vfs = fx.vfs_of(pf);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) throw;
    throw JobError(fmt::format("network {} ({}) needs InfiniBand device {} on node {}, which has none: {}", p.name,
                               to_string(p.kind), p.host_device, node, e.what()),
                   ErrorKind::config);
  }
  std::vector<vfio::VfState> chosen;
  try {
    chosen = vfio::select_free_vfs(std::move(vfs), ranks.size(), held, node, p.host_device);
  } catch (const Error& e) {
    throw JobError(fmt::format("network {}: {}", p.name, e.what()), ErrorKind::config);
  }
  std::vector<PlannedDevice> out;
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    const auto f = fx.pci_function(chosen[i].bdf);
    out.push_back({ranks[i], p.index, chosen[i].bdf, chosen[i].driver, group_of(f), chosen[i].index, pf, {}});
  }
  return out;
}

// genericpci: each VM one device of host-device-addrs, a whole slot's functions when the
// address has no function number. A listed device the node lacks is not free; one with a
// function on vfio-pci or held by another job is not either.
std::vector<PlannedDevice> choose_pci(NodeEffects& fx, const JobPassthrough& p, const std::vector<std::uint32_t>& ranks,
                                      const std::set<std::string>& held, const std::string& node) {
  std::vector<PlannedDevice> out;
  std::size_t free_devices = 0;
  for (const auto& addr : p.device_addrs) {
    if (free_devices == ranks.size()) break;
    std::vector<std::string> functions;
    std::vector<vfio::PciFunction> states;
    try {
      functions = addr.size() == 10 ? fx.slot_functions(addr) : std::vector<std::string>{addr};
      for (const auto& bdf : functions) states.push_back(fx.pci_function(bdf));
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::not_found) continue;
      throw;
    }
    const bool taken = std::any_of(states.begin(), states.end(), [&](const vfio::PciFunction& f) {
      return f.driver == std::optional<std::string>(vfio::kVfioDriver) || held.count(f.bdf) != 0;
    });
    if (taken) continue;
    const std::uint32_t rank = ranks[free_devices++];
    for (const auto& f : states) {
      std::vector<std::string> together;
      for (const auto& other : functions) {
        if (other != f.bdf) together.push_back(other);
      }
      // After the job: the driver it was on; an unbound one goes to host-driver only if it is
      // the device itself (the listed function, or function 0 of a listed slot): host-driver is
      // the GPU's, and binding a GPU's audio function to it would fail every epilog.
      std::optional<std::string> back = f.driver;
      if (!back && (f.bdf == addr || (addr.size() == 10 && f.bdf.ends_with(".0")))) back = p.host_driver;
      out.push_back({rank, p.index, f.bdf, back, group_of(f), std::nullopt, {}, std::move(together)});
    }
  }
  if (free_devices < ranks.size()) {
    throw JobError(fmt::format("network {}: node {} has {} free of the {} devices of host-device-addrs, the job "
                               "needs {} there (one per VM): ask for fewer VMs per node",
                               p.name, node, free_devices, p.device_addrs.size(), ranks.size()),
                   ErrorKind::config);
  }
  return out;
}

}  // namespace

std::vector<PlannedDevice> choose_devices(NodeEffects& fx, const NodePlan& plan, const std::string& node) {
  std::vector<PlannedDevice> out;
  if (plan.nets.passthrough.empty() || plan.local.empty()) return out;
  // What another job holds, then what this job already took (two networks on one HCA).
  std::set<std::string> held = fx.held_pci_functions(plan.job_id);
  for (const auto& p : plan.nets.passthrough) {
    std::vector<std::uint32_t> ranks;
    for (const auto& vm : plan.local) {
      const auto& devices = plan.nets.devices_of_rank.at(vm.rank);
      if (std::find(devices.begin(), devices.end(), p.index) != devices.end()) ranks.push_back(vm.rank);
    }
    if (ranks.empty()) continue;
    auto chosen = p.kind == PassthroughKind::generic_pci ? choose_pci(fx, p, ranks, held, node)
                                                          : choose_vfs(fx, p, ranks, held, node);
    for (const auto& d : chosen) held.insert(d.bdf);
    out.insert(out.end(), std::make_move_iterator(chosen.begin()), std::make_move_iterator(chosen.end()));
  }
  // Rank order, then the order of the VM's networks (stable: the order chosen within one).
  std::stable_sort(out.begin(), out.end(), [&](const PlannedDevice& a, const PlannedDevice& b) {
    if (a.rank != b.rank) return a.rank < b.rank;
    const auto& order = plan.nets.devices_of_rank.at(a.rank);
    return std::find(order.begin(), order.end(), a.passthrough) < std::find(order.begin(), order.end(), b.passthrough);
  });
  return out;
}

}  // namespace slurmvm::netsetup
