// A node's PCI functions and InfiniBand HCAs as sysfs shows them, read under a sysfs root
// ("/sys" on a node; a test's tree otherwise). Only names sysfs itself gives are followed, and
// every one is checked (pci_sysfs.hpp) before it becomes part of a path: a BDF is
// "DDDD:BB:SS.F", a driver a plain word.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vfio/vf_select.hpp"

namespace slurmvm::vfio {

inline constexpr const char* kSysfs = "/sys";

struct PciFunction {
  std::string bdf;
  std::uint16_t vendor = 0;
  std::uint16_t device = 0;
  std::optional<std::string> driver;   // bound driver
  std::optional<unsigned> iommu_group;  // none: no IOMMU, no VFIO
};

// bus/pci/devices/<bdf>. Throws Error(not_found) when there is no such function, Error(system)
// when sysfs says something unexpected.
PciFunction read_pci_function(const std::filesystem::path& sysfs, std::string_view bdf);

// The PCI function (the SR-IOV physical function) of InfiniBand device `ib_device` ("mlx5_0"):
// class/infiniband/<dev>/device. Error(not_found) naming the device when the node has none.
std::string ib_device_function(const std::filesystem::path& sysfs, std::string_view ib_device);

// The functions of slot `slot` ("DDDD:BB:SS"), sorted: a device passed whole (a GPU and its audio
// function). Error(not_found) naming the slot when it has none.
std::vector<std::string> slot_functions(const std::filesystem::path& sysfs, std::string_view slot);

// The VFs of physical function `pf_bdf` (its virtfnN links), with their drivers, by index.
std::vector<VfState> list_vfs(const std::filesystem::path& sysfs, std::string_view pf_bdf);

}  // namespace slurmvm::vfio
