// Moving PCI functions between drivers through sysfs (pci_bind.hpp).
#include "vfio/pci_bind.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <functional>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "error.hpp"
#include "file_read.hpp"
#include "vfio/pci_devices.hpp"
#include "vfio/pci_sysfs.hpp"
#include "vfio/sysfs_write.hpp"
#include "vfio/vf_select.hpp"

namespace fs = std::filesystem;

namespace slurmvm::vfio {
namespace {

// Polls `done` until it holds or the deadline passes (then Error(timeout) saying `what`).
void wait_until(const std::function<bool()>& done, Deadline deadline, const std::string& what) {
  for (;;) {
    if (done()) return;
    if (expired(deadline)) throw Error(fmt::format("timed out waiting for {}", what), ErrorKind::timeout);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

fs::path function_dir(const DeviceRoots& roots, std::string_view bdf) {
  return roots.sysfs / "bus/pci/devices" / std::string(bdf);
}
fs::path driver_dir(const DeviceRoots& roots, std::string_view driver) {
  return roots.sysfs / "bus/pci/drivers" / std::string(driver);
}
fs::path group_node(const DeviceRoots& roots, unsigned group) {
  return roots.dev / "vfio" / std::to_string(group);
}

std::optional<std::string> current_driver(const DeviceRoots& roots, std::string_view bdf) {
  return read_pci_function(roots.sysfs, bdf).driver;
}

bool exists_nofollow(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

void require_driver(const DeviceRoots& roots, std::string_view driver, std::string_view hint) {
  std::error_code ec;
  if (!fs::is_directory(driver_dir(roots, driver), ec)) {
    throw Error(fmt::format("the {} driver is not loaded on this node ({} is missing){}", driver,
                            driver_dir(roots, driver).string(), hint),
                ErrorKind::system);
  }
}

void unbind(const DeviceRoots& roots, std::string_view bdf, const std::string& driver, Deadline deadline) {
  write_sysfs(driver_dir(roots, driver) / "unbind", bdf);
  wait_until([&] { return !current_driver(roots, bdf); }, deadline,
             fmt::format("PCI function {} to leave driver {}", bdf, driver));
}

}  // namespace

std::vector<std::string> vfio_group_holders(const DeviceRoots& roots, unsigned group, const fs::path& proc) {
  const std::string node = group_node(roots, group).string();
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& p : fs::directory_iterator(proc, ec)) {
    const std::string pid = p.path().filename().string();
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code fd_ec;  // a process that exits meanwhile: skipped
    for (const auto& fd : fs::directory_iterator(p.path() / "fd", fd_ec)) {
      std::error_code link_ec;
      if (fs::read_symlink(fd.path(), link_ec).string() != node) continue;
      std::string comm;
      try {
        comm = read_file(p.path() / "comm", 64);
      } catch (const Error&) {
      }
      while (!comm.empty() && comm.back() == '\n') comm.pop_back();
      out.push_back(fmt::format("pid {} ({})", pid, comm));
      break;
    }
  }
  return out;
}

std::vector<std::string> iommu_group_functions(const fs::path& sysfs, unsigned group) {
  const fs::path dir = sysfs / "kernel/iommu_groups" / std::to_string(group) / "devices";
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!is_full_bdf(name)) {
      throw Error(fmt::format("{}: unexpected entry \"{}\"", dir.string(), name), ErrorKind::system);
    }
    out.push_back(std::move(name));
  }
  if (ec) throw Error::from_errno(fmt::format("listing {}", dir.string()), ec.value());
  std::sort(out.begin(), out.end());
  return out;
}

unsigned bind_to_vfio(const DeviceRoots& roots, std::string_view bdf, Deadline deadline,
                      const std::vector<std::string>& together) {
  const PciFunction f = read_pci_function(roots.sysfs, bdf);
  if (!f.iommu_group) {
    throw Error(fmt::format("PCI function {} has no IOMMU group: VFIO needs the IOMMU on (intel_iommu=on or "
                            "amd_iommu=on on the kernel command line, VT-d/AMD-Vi in the firmware)",
                            bdf),
                ErrorKind::system);
  }
  const unsigned group = *f.iommu_group;
  for (const auto& other : iommu_group_functions(roots.sysfs, group)) {
    if (other == bdf || std::find(together.begin(), together.end(), other) != together.end()) continue;
    // Unbound and pci-stub are fine for the kernel (vfio_dev_viable), but not a function on
    // vfio-pci that is not passed with it: its group's node would serve two VMs, or two jobs.
    if (const auto d = current_driver(roots, other); d && *d != "pci-stub") {
      throw Error(fmt::format("PCI function {} shares IOMMU group {} with {} (driver {}): VFIO passes whole groups "
                              "only; list every function of the group, or put the device behind an ACS-capable port",
                              bdf, group, other, *d),
                  ErrorKind::system);
    }
  }
  require_driver(roots, kVfioDriver, " (modprobe vfio-pci, or load it at boot)");
  // Set first: between the unbind and the probe, and after any rescan, only vfio-pci may take it.
  write_sysfs(function_dir(roots, bdf) / "driver_override", kVfioDriver);
  if (f.driver != kVfioDriver) {
    if (f.driver) unbind(roots, bdf, *f.driver, deadline);
    write_sysfs(roots.sysfs / "bus/pci/drivers_probe", bdf);
    wait_until([&] { return current_driver(roots, bdf) == std::optional<std::string>(kVfioDriver); }, deadline,
               fmt::format("PCI function {} to bind to vfio-pci", bdf));
  }
  const fs::path node = group_node(roots, group);
  wait_until([&] { return exists_nofollow(node); }, deadline, fmt::format("{} to appear", node.string()));
  return group;
}

void return_to_driver(const DeviceRoots& roots, std::string_view bdf, const std::optional<std::string>& driver,
                      Deadline deadline) {
  if (driver && !is_driver_name(*driver)) {
    throw Error(fmt::format("\"{}\" is not a driver name", *driver), ErrorKind::internal);
  }
  std::optional<std::string> now;
  try {
    now = current_driver(roots, bdf);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::not_found) return;  // the function is gone: nothing to give back
    throw;
  }
  if (now && *now != kVfioDriver) {
    // Not ours (any more). An override left at vfio-pci by a bind that failed half-way would
    // hand it to vfio-pci at its next probe: cleared.
    const auto override_ = read_file(function_dir(roots, bdf) / "driver_override", 4096);
    if (override_.starts_with(kVfioDriver)) write_sysfs(function_dir(roots, bdf) / "driver_override", "\n");
    return;
  }
  if (now) {
    if (const auto group = read_pci_function(roots.sysfs, bdf).iommu_group) {
      if (const auto holders = vfio_group_holders(roots, *group); !holders.empty()) {
        throw Error(fmt::format("PCI function {}: /dev/vfio/{} is still open by {}: a VM still holds the device, "
                                "and unbinding it would wait for that process with no time limit; it is left "
                                "on vfio-pci until it exits",
                                bdf, *group, fmt::join(holders, ", ")),
                    ErrorKind::system);
      }
    }
  }
  // "\n" clears it (sysfs-bus-pci); the function then goes back to its own driver's matching.
  write_sysfs(function_dir(roots, bdf) / "driver_override", "\n");
  if (now) unbind(roots, bdf, *now, deadline);
  if (!driver) return;
  require_driver(roots, *driver, "");
  write_sysfs(driver_dir(roots, *driver) / "bind", bdf);
  wait_until([&] { return current_driver(roots, bdf) == driver; }, deadline,
             fmt::format("PCI function {} to bind to {}", bdf, *driver));
}

void set_vfio_group_owner(const DeviceRoots& roots, unsigned group, uid_t uid, gid_t gid) {
  const fs::path node = group_node(roots, group);
  struct stat st {};
  if (::lstat(node.c_str(), &st) != 0) {
    if (errno == ENOENT && uid == 0) return;
    throw Error::from_errno(fmt::format("{} (the VFIO group of a device passed to a VM)", node.string()), errno);
  }
  if (!S_ISCHR(st.st_mode) && !S_ISREG(st.st_mode)) {
    throw Error(fmt::format("{} is not a device node", node.string()), ErrorKind::system);
  }
  // lchown: never through a link; the mode after the owner, so the user never holds a 0660 node
  // of another owner's group.
  if (::lchown(node.c_str(), uid, gid) != 0) throw Error::from_errno(fmt::format("chown {}", node.string()), errno);
  if (::chmod(node.c_str(), 0600) != 0) throw Error::from_errno(fmt::format("chmod {}", node.string()), errno);
}

}  // namespace slurmvm::vfio
