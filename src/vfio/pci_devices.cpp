// Reading PCI functions and InfiniBand devices from sysfs (pci_devices.hpp).
#include "vfio/pci_devices.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "error.hpp"
#include "file_read.hpp"
#include "vfio/pci_sysfs.hpp"

namespace fs = std::filesystem;

namespace slurmvm::vfio {
namespace {

constexpr std::size_t kSysfsFileLimit = 4096;

// The target of a symlink; nullopt when there is none (ENOENT).
std::optional<std::string> read_link(const fs::path& link) {
  char buf[4096];
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
  if (n < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw Error::from_errno(fmt::format("readlink {}", link.string()), errno);
  }
  if (static_cast<std::size_t>(n) == sizeof buf) throw Error(fmt::format("{}: link target too long", link.string()));
  return std::string(buf, static_cast<std::size_t>(n));
}

fs::path function_dir(const fs::path& sysfs, std::string_view bdf) {
  if (!is_full_bdf(bdf)) throw Error(fmt::format("\"{}\" is not a PCI function address", bdf), ErrorKind::internal);
  return sysfs / "bus/pci/devices" / std::string(bdf);
}

std::uint16_t read_id(const fs::path& file) {
  const auto id = parse_pci_id(read_file(file, kSysfsFileLimit));
  if (!id) throw Error(fmt::format("{}: not a PCI id", file.string()), ErrorKind::system);
  return *id;
}

std::optional<std::string> driver_of(const fs::path& dir) {
  const auto target = read_link(dir / "driver");
  if (!target) return std::nullopt;
  const std::string name(link_name(*target));
  if (!is_driver_name(name)) {
    throw Error(fmt::format("{}/driver: unexpected driver name \"{}\"", dir.string(), name), ErrorKind::system);
  }
  return name;
}

}  // namespace

PciFunction read_pci_function(const fs::path& sysfs, std::string_view bdf) {
  const fs::path dir = function_dir(sysfs, bdf);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error(fmt::format("no PCI function {} on this node ({})", bdf, dir.string()), ErrorKind::not_found);
  }
  PciFunction f;
  f.bdf = std::string(bdf);
  f.vendor = read_id(dir / "vendor");
  f.device = read_id(dir / "device");
  f.driver = driver_of(dir);
  if (const auto group = read_link(dir / "iommu_group")) {
    f.iommu_group = parse_iommu_group(*group);
    if (!f.iommu_group) throw Error(fmt::format("{}/iommu_group: unexpected target {}", dir.string(), *group));
  }
  return f;
}

std::string ib_device_function(const fs::path& sysfs, std::string_view ib_device) {
  if (!is_driver_name(ib_device)) throw Error(fmt::format("\"{}\" is not a device name", ib_device), ErrorKind::internal);
  const fs::path link = sysfs / "class/infiniband" / std::string(ib_device) / "device";
  const auto target = read_link(link);
  if (!target) {
    throw Error(fmt::format("no InfiniBand device {} on this node ({} is missing)", ib_device, link.string()),
                ErrorKind::not_found);
  }
  const std::string bdf(link_name(*target));
  if (!is_full_bdf(bdf)) throw Error(fmt::format("{}: unexpected target {}", link.string(), *target), ErrorKind::system);
  return bdf;
}

std::vector<std::string> slot_functions(const fs::path& sysfs, std::string_view slot) {
  if (slot.size() != 10 || !is_full_bdf(std::string(slot) + ".0")) {
    throw Error(fmt::format("\"{}\" is not a PCI slot address", slot), ErrorKind::internal);
  }
  const fs::path dir = sysfs / "bus/pci/devices";
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.size() == 12 && name.starts_with(slot) && name[10] == '.' && is_full_bdf(name)) {
      out.push_back(std::move(name));
    }
  }
  if (ec) throw Error::from_errno(fmt::format("listing {}", dir.string()), ec.value());
  if (out.empty()) throw Error(fmt::format("no PCI device {} on this node", slot), ErrorKind::not_found);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<VfState> list_vfs(const fs::path& sysfs, std::string_view pf_bdf) {
  const fs::path pf = function_dir(sysfs, pf_bdf);
  std::vector<VfState> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(pf, ec)) {
    const auto index = parse_virtfn_entry(entry.path().filename().string());
    if (!index) continue;
    const auto target = read_link(entry.path());
    const std::string bdf(target ? link_name(*target) : std::string_view{});
    if (!is_full_bdf(bdf)) {
      throw Error(fmt::format("{}: unexpected target {}", entry.path().string(), target.value_or("")), ErrorKind::system);
    }
    out.push_back({*index, bdf, driver_of(function_dir(sysfs, bdf))});
  }
  if (ec) throw Error::from_errno(fmt::format("listing {}", pf.string()), ec.value());
  std::sort(out.begin(), out.end(), [](const VfState& a, const VfState& b) { return a.index < b.index; });
  return out;
}

}  // namespace slurmvm::vfio
