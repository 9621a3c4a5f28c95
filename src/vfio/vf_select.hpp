// Which of an HCA's SR-IOV virtual functions a job gets on a node: pure, from what sysfs shows
// of each VF (pci_sysfs.hpp) and what the node's other jobs hold (their ledgers), so that two
// jobs never get one VF, even one whose rebinding another prolog has not finished.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace slurmvm::vfio {

inline constexpr const char* kVfioDriver = "vfio-pci";

struct VfState {
  unsigned index = 0;                 // N of the PF's virtfnN
  std::string bdf;                    // "0000:3b:00.2"
  std::optional<std::string> driver;  // bound driver, if any
};

// The `count` lowest-index VFs that are free: not bound to vfio-pci (a VM may hold it) and not
// in `held` (the BDFs the node's other jobs recorded). Throws Error(config), the job's fault,
// naming the node, the device and the counts when fewer are free.
std::vector<VfState> select_free_vfs(std::vector<VfState> vfs, std::size_t count, const std::set<std::string>& held,
                                     std::string_view node, std::string_view device);

}  // namespace slurmvm::vfio
