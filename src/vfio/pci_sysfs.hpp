// What sysfs shows of PCI functions, parsed from text (crun's rule: parse text, not paths): the
// caller reads the files and links of /sys/bus/pci/devices/<bdf> (the real tree, or a test's)
// and hands their content here. Every parser is total: it returns nullopt on anything else.
//   vendor, device            "0x15b3\n"
//   driver -> link            "../../../../bus/pci/drivers/mlx5_core"
//   iommu_group -> link       "../../../../kernel/iommu_groups/17"
//   virtfnN -> link (of a PF) "../0000:3b:00.2"
//   sriov_numvfs              "8\n"
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace slurmvm::vfio {

// `text` without leading and trailing whitespace (sysfs and tools end their lines with '\n').
std::string_view trim_space(std::string_view text);

// "0x15b3" (a 16-bit hex id, newline allowed).
std::optional<std::uint16_t> parse_pci_id(std::string_view text);
// A decimal count or index ("8\n").
std::optional<unsigned> parse_count(std::string_view text);
// The last component of a link target; empty when the target ends with '/'.
std::string_view link_name(std::string_view target);
// The group number of an iommu_group link target.
std::optional<unsigned> parse_iommu_group(std::string_view target);
// N of a PF's "virtfnN" directory entry.
std::optional<unsigned> parse_virtfn_entry(std::string_view name);
// A full PCI address "DDDD:BB:SS.F", as sysfs names functions (and nothing else: no shell or
// path character can pass, so it may go into a path or QEMU's -device host=).
bool is_full_bdf(std::string_view text);
// A kernel driver's name as sysfs shows it ("mlx5_core", "vfio-pci"): letters, digits, '_', '-'.
bool is_driver_name(std::string_view text);

}  // namespace slurmvm::vfio
