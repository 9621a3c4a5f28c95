// Moving a PCI function between its host driver and vfio-pci, and giving its VFIO group's
// device node to a job's user: the kernel interface (Documentation/ABI/testing/sysfs-bus-pci:
// driver_override, drivers/<d>/bind and unbind, drivers_probe), under a sysfs and a /dev root
// ("/sys" and "/dev" on a node; a test's fake tree, tests/tools/fake_pci_kernel.hpp).
//
// Every write is one write(2) of the whole value, as sysfs requires; every change is then
// waited for, within a deadline, until sysfs shows it: the real kernel has made it when the
// write returns, but /dev/vfio/<group> comes from devtmpfs a moment later (pcocc slept a
// second for it, its "FIXME race"). Each call is idempotent: a function already where it is
// asked to go is only checked, so a retried prolog or a second epilog succeeds.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "deadline.hpp"

namespace slurmvm::vfio {

struct DeviceRoots {
  std::filesystem::path sysfs = "/sys";
  std::filesystem::path dev = "/dev";
};

// `bdf` on vfio-pci: driver_override set to vfio-pci (so that no other driver takes it between
// the unbind and the bind, nor after a rescan), unbound from its driver, probed; waits for the
// driver link and /dev/vfio/<group>. Returns the IOMMU group. Throws Error(system) naming the
// function when it has no IOMMU group (no IOMMU, or VFIO cannot isolate it), when its group
// holds a function bound to another driver that is not among `together` (the functions passed
// with it, bound next: VFIO opens a group only once it owns all of it), or when the kernel does
// not move it before the deadline (Error(timeout)).
unsigned bind_to_vfio(const DeviceRoots& roots, std::string_view bdf, Deadline deadline,
                      const std::vector<std::string>& together = {});

// `bdf` back to `driver` (its driver before bind_to_vfio, or genericpci's host-driver; none:
// left unbound, the kernel's choice at the next probe): driver_override cleared, unbound from
// vfio-pci, bound to `driver`. A function bound to anything but vfio-pci is left alone (it is not
// ours any more); an absent one is success (hot-unplugged, or the VF went with sriov_numvfs).
// While a process still holds its VFIO group open (a QEMU that outlived its step), the kernel's
// unbind would wait for it with no time limit: Error(system) naming the process instead.
void return_to_driver(const DeviceRoots& roots, std::string_view bdf, const std::optional<std::string>& driver,
                      Deadline deadline);

// /dev/vfio/<group>, owned by `uid`:`gid`, mode 0600 (the job's user opens it through QEMU;
// root:root gives it back). Absent is success when `uid` is 0 (the group went with the unbind).
void set_vfio_group_owner(const DeviceRoots& roots, unsigned group, uid_t uid, gid_t gid);

// The processes that hold /dev/vfio/<group> open (their fds, read under `proc`, "/proc" on a
// node), as "pid (comm)".
std::vector<std::string> vfio_group_holders(const DeviceRoots& roots, unsigned group,
                                            const std::filesystem::path& proc = "/proc");

// The functions of IOMMU group `group` (kernel/iommu_groups/<group>/devices), sorted.
std::vector<std::string> iommu_group_functions(const std::filesystem::path& sysfs, unsigned group);

}  // namespace slurmvm::vfio
