// A fake but faithful PCI/SR-IOV/VFIO kernel for tests (issue 13: this machine has no HCA, no
// SR-IOV, no IOMMU). It builds, under a sysfs root and a /dev root, the tree Linux shows
// (Documentation/ABI/testing/sysfs-bus-pci, sysfs-kernel-iommu_groups), with the same relative
// links:
//
//   devices/pci0000:00/<bdf>/{vendor,device,driver_override,driver->,iommu_group->,
//                             virtfnN->, physfn->, sriov_numvfs, sriov/<n>/{node,port,policy},
//                             infiniband/<dev>/}
//   bus/pci/devices/<bdf> -> ../../../devices/pci0000:00/<bdf>
//   bus/pci/drivers/<driver>/{bind,unbind,<bdf>->}, bus/pci/drivers_probe
//   kernel/iommu_groups/<n>/devices/<bdf> ->, class/infiniband/<dev> ->
//   <dev>/vfio/vfio, <dev>/vfio/<group> (while a function of the group is on vfio-pci)
//
// and reacts to writes as the kernel does (react() on demand, or a thread watching with
// inotify): `bind` binds an unbound function unless its driver_override names another driver;
// `unbind` unbinds a function from that driver; `drivers_probe` binds an unbound function to its
// driver_override, else to its own driver; vfio-pci creates and removes /dev/vfio/<group>.
// What the kernel would refuse is ignored, so that the code under test sees the state not
// change and must report it. Not thread-safe beyond its own watcher.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace slurmvm::testing {

struct FakeFunction {
  std::string bdf;
  std::uint16_t vendor = 0x15b3;
  std::uint16_t device = 0x101c;
  std::string own_driver = "mlx5_core";  // what drivers_probe picks without driver_override
  bool bound = true;                     // on own_driver at the start
  std::optional<unsigned> iommu_group;   // none: no IOMMU
};

class FakePciKernel {
 public:
  FakePciKernel(std::filesystem::path sysfs, std::filesystem::path dev);
  ~FakePciKernel();
  FakePciKernel(const FakePciKernel&) = delete;
  FakePciKernel& operator=(const FakePciKernel&) = delete;

  // A function, its driver's directory and its IOMMU group.
  void add_function(const FakeFunction& f);
  // A driver with no function yet (vfio-pci, a GPU's host driver).
  void add_driver(const std::string& driver);
  // A ConnectX-like HCA: physical function `pf` on mlx5_core with `vfs` VFs (pf's bus, slot 0,
  // functions 1.., each in IOMMU group first_group + n, bound to mlx5_core), InfiniBand device
  // `ib_device` (class/infiniband/<dev>/device -> the PF), sriov/<n>/{node,port,policy}
  // (GUIDs 0, policy Down). Returns the VFs' addresses.
  std::vector<std::string> add_hca(const std::string& ib_device, const std::string& pf, unsigned vfs,
                                   unsigned first_group);

  // The driver a function is bound to, as its driver link says.
  std::optional<std::string> driver_of(const std::string& bdf) const;
  std::string read_attr(const std::string& relative) const;  // a file under the sysfs root

  // Applies every write made since the last call (what the kernel does inside write(2)).
  void react();
  // A thread that calls react() on every write to a control file, until stop() or destruction.
  void start();
  void stop();

 private:
  std::filesystem::path function_dir(const std::string& bdf) const;
  void bind(const std::string& bdf, const std::string& driver);
  void unbind(const std::string& bdf);
  void watch(const std::filesystem::path& file);

  std::filesystem::path sysfs_;
  std::filesystem::path dev_;
  std::map<std::string, FakeFunction> functions_;
  std::vector<std::filesystem::path> control_files_;
  int inotify_fd_ = -1;
  int stop_fd_ = -1;
  std::thread watcher_;
};

}  // namespace slurmvm::testing
