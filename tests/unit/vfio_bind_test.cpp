// Moving PCI functions between drivers, VFIO groups' owners and VF GUIDs (pci_bind.hpp,
// vf_guids.hpp) against the fake PCI kernel (tests/tools/fake_pci_kernel.hpp): the same tree
// and links as Linux's sysfs, with bind/unbind/drivers_probe reacting as the kernel does.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <fstream>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "error.hpp"
#include "fake_pci_kernel.hpp"
#include "vfio/ib_guid.hpp"
#include "vfio/pci_bind.hpp"
#include "vfio/pci_devices.hpp"
#include "vfio/vf_guids.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace slurmvm;
using namespace slurmvm::vfio;
using slurmvm::testing::FakePciKernel;
using ::testing::HasSubstr;

namespace {

const std::optional<std::string> kMlx5 = std::string("mlx5_core");
const std::optional<std::string> kVfio = std::string("vfio-pci");

class FakeKernel : public ::testing::Test {
 protected:
  void SetUp() override {
    roots_ = {dir_ / "sys", dir_ / "dev"};
    kernel_.emplace(roots_.sysfs, roots_.dev);
    vfs_ = kernel_->add_hca("mlx5_0", "0000:3b:00.0", 4, 40);
  }
  void TearDown() override { kernel_.reset(); }  // its watcher stops before the tree goes
  static Deadline soon() { return deadline_in(std::chrono::seconds(5)); }
  bool group_node_exists(unsigned group) const { return fs::exists(roots_.dev / "vfio" / std::to_string(group)); }

  slurmvm::test::TempDir tmp_{"svm-pci"};
  fs::path dir_ = tmp_.path();
  DeviceRoots roots_;
  std::optional<FakePciKernel> kernel_;
  std::vector<std::string> vfs_;
};

TEST_F(FakeKernel, TreeLooksLikeSysfs) {
  EXPECT_EQ(ib_device_function(roots_.sysfs, "mlx5_0"), "0000:3b:00.0");
  const auto vfs = list_vfs(roots_.sysfs, "0000:3b:00.0");
  ASSERT_EQ(vfs.size(), 4u);
  EXPECT_EQ(vfs[0].bdf, "0000:3b:00.1");
  EXPECT_EQ(vfs[3].bdf, "0000:3b:00.4");
  EXPECT_EQ(vfs[2].driver, kMlx5);
  EXPECT_EQ(read_pci_function(roots_.sysfs, "0000:3b:00.2").iommu_group, 41u);
  EXPECT_EQ(iommu_group_functions(roots_.sysfs, 41), std::vector<std::string>{"0000:3b:00.2"});
}

TEST_F(FakeKernel, BindMovesAVfToVfioAndBack) {
  kernel_->start();
  EXPECT_EQ(bind_to_vfio(roots_, vfs_[1], soon()), 41u);
  EXPECT_EQ(kernel_->driver_of(vfs_[1]), kVfio);
  EXPECT_EQ(kernel_->read_attr("bus/pci/devices/0000:3b:00.2/driver_override"), "vfio-pci");
  EXPECT_TRUE(group_node_exists(41));
  EXPECT_EQ(kernel_->driver_of(vfs_[0]), kMlx5);  // the others stay

  // Again (a retried prolog): only checked.
  EXPECT_EQ(bind_to_vfio(roots_, vfs_[1], soon()), 41u);

  return_to_driver(roots_, vfs_[1], kMlx5, soon());
  EXPECT_EQ(kernel_->driver_of(vfs_[1]), kMlx5);
  EXPECT_EQ(kernel_->read_attr("bus/pci/devices/0000:3b:00.2/driver_override"), "\n");
  EXPECT_FALSE(group_node_exists(41));
  // Again (a second epilog): nothing to do.
  return_to_driver(roots_, vfs_[1], kMlx5, soon());
  EXPECT_EQ(kernel_->driver_of(vfs_[1]), kMlx5);
}

// A VM that outlived its step still holds the group: the kernel's unbind would wait for it
// forever, so the epilog refuses, naming the process, and succeeds once it is gone.
TEST_F(FakeKernel, AGroupStillOpenIsNotUnbound) {
  kernel_->start();
  bind_to_vfio(roots_, vfs_[0], soon());
  auto holder = std::make_unique<std::ifstream>(roots_.dev / "vfio/40");
  ASSERT_TRUE(holder->is_open());
  EXPECT_EQ(vfio_group_holders(roots_, 40).size(), 1u);
  try {
    return_to_driver(roots_, vfs_[0], kMlx5, soon());
    FAIL() << "unbound a device a process holds";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(fmt::format("/dev/vfio/40 is still open by pid {} (", ::getpid())));
  }
  EXPECT_EQ(kernel_->driver_of(vfs_[0]), kVfio);
  holder.reset();
  EXPECT_TRUE(vfio_group_holders(roots_, 40).empty());
  return_to_driver(roots_, vfs_[0], kMlx5, soon());
  EXPECT_EQ(kernel_->driver_of(vfs_[0]), kMlx5);
}

TEST_F(FakeKernel, ReturnWithoutADriverLeavesItUnbound) {
  kernel_->start();
  bind_to_vfio(roots_, vfs_[0], soon());
  return_to_driver(roots_, vfs_[0], std::nullopt, soon());
  EXPECT_EQ(kernel_->driver_of(vfs_[0]), std::nullopt);
}

TEST_F(FakeKernel, ReturnLeavesAFunctionOnAnotherDriverAlone) {
  kernel_->start();
  return_to_driver(roots_, vfs_[2], std::string("other_driver"), soon());
  EXPECT_EQ(kernel_->driver_of(vfs_[2]), kMlx5);
  EXPECT_NO_THROW(return_to_driver(roots_, "0000:99:00.0", kMlx5, soon()));  // gone: success
}

// A bind that failed half-way left driver_override at vfio-pci on a function still on its own
// driver: the undo clears it, or vfio-pci would take the function at its next probe.
TEST_F(FakeKernel, AnOverrideLeftByAFailedBindIsCleared) {
  kernel_->start();
  { std::ofstream(roots_.sysfs / "bus/pci/devices" / vfs_[2] / "driver_override") << "vfio-pci"; }
  return_to_driver(roots_, vfs_[2], kMlx5, soon());
  EXPECT_EQ(kernel_->driver_of(vfs_[2]), kMlx5);
  EXPECT_EQ(kernel_->read_attr("bus/pci/devices/0000:3b:00.3/driver_override"), "\n");
}

// Two devices behind one port without ACS share a group: one on vfio-pci for a VM, the other
// must not go to vfio-pci for another (its group's node would serve both).
TEST_F(FakeKernel, AGroupPartlyOnVfioForAnotherIsRefused) {
  kernel_->add_function({"0000:af:00.0", 0x10de, 0x20b0, "nvidia", false, 70});
  kernel_->add_function({"0000:b0:00.0", 0x10de, 0x20b0, "nvidia", false, 70});
  kernel_->start();
  bind_to_vfio(roots_, "0000:af:00.0", soon());
  EXPECT_THROW(bind_to_vfio(roots_, "0000:b0:00.0", soon()), Error);
  EXPECT_EQ(kernel_->driver_of("0000:b0:00.0"), std::nullopt);
  EXPECT_NO_THROW(bind_to_vfio(roots_, "0000:b0:00.0", soon(), {"0000:af:00.0"}));  // passed together: fine
}

TEST_F(FakeKernel, AnUnboundFunctionIsProbedStraightToVfio) {
  kernel_->add_function({"0000:af:00.0", 0x10de, 0x20b0, "nvidia", false, 70});
  kernel_->start();
  EXPECT_EQ(bind_to_vfio(roots_, "0000:af:00.0", soon()), 70u);
  EXPECT_EQ(kernel_->driver_of("0000:af:00.0"), kVfio);
  // genericpci: given back to the site's host-driver.
  return_to_driver(roots_, "0000:af:00.0", std::string("nvidia"), soon());
  EXPECT_EQ(kernel_->driver_of("0000:af:00.0"), std::string("nvidia"));
}

TEST_F(FakeKernel, NoIommuGroupIsRefusedWithTheFix) {
  kernel_->add_function({"0000:af:00.0", 0x10de, 0x20b0, "nvidia", true, std::nullopt});
  kernel_->start();
  try {
    bind_to_vfio(roots_, "0000:af:00.0", soon());
    FAIL() << "bound without an IOMMU group";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("0000:af:00.0 has no IOMMU group"));
    EXPECT_THAT(e.what(), HasSubstr("intel_iommu=on"));
  }
  EXPECT_EQ(kernel_->driver_of("0000:af:00.0"), std::string("nvidia"));
}

TEST_F(FakeKernel, AGroupSharedWithAnotherDriverIsRefused) {
  kernel_->add_function({"0000:af:00.0", 0x10de, 0x20b0, "nvidia", true, 70});
  kernel_->add_function({"0000:af:00.1", 0x10de, 0x10f0, "snd_hda_intel", true, 70});
  kernel_->start();
  try {
    bind_to_vfio(roots_, "0000:af:00.0", soon());
    FAIL() << "bound a function whose group another driver holds";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("shares IOMMU group 70 with 0000:af:00.1 (driver snd_hda_intel)"));
  }
  EXPECT_EQ(kernel_->driver_of("0000:af:00.0"), std::string("nvidia"));
}

TEST_F(FakeKernel, NoVfioDriverSaysModprobe) {
  FakePciKernel bare(dir_ / "sys2", dir_ / "dev2");
  bare.add_function({"0000:af:00.0", 0x10de, 0x20b0, "nvidia", true, 70});
  try {
    bind_to_vfio({dir_ / "sys2", dir_ / "dev2"}, "0000:af:00.0", soon());
    FAIL() << "bound without vfio-pci";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("modprobe vfio-pci"));
  }
}

TEST_F(FakeKernel, AKernelThatDoesNotFollowTimesOut) {
  // No watcher: writes land, nothing moves (what a refused write looks like afterwards).
  const auto start = std::chrono::steady_clock::now();
  try {
    bind_to_vfio(roots_, vfs_[0], deadline_in(std::chrono::milliseconds(150)));
    FAIL() << "bind returned although nothing moved";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::timeout);
    EXPECT_THAT(e.what(), HasSubstr("0000:3b:00.1 to leave driver mlx5_core"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(FakeKernel, GroupNodeGoesToTheUserAndBack) {
  kernel_->start();
  bind_to_vfio(roots_, vfs_[0], soon());
  const fs::path node = roots_.dev / "vfio/40";
  // Without root, one can only give a file to oneself.
  const uid_t user = ::getuid() == 0 ? 4242 : ::getuid();
  const gid_t group = ::getuid() == 0 ? 4242 : ::getgid();
  set_vfio_group_owner(roots_, 40, user, group);
  struct stat st {};
  ASSERT_EQ(::lstat(node.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, user);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  return_to_driver(roots_, vfs_[0], kMlx5, soon());
  EXPECT_NO_THROW(set_vfio_group_owner(roots_, 40, 0, 0));  // gone with the unbind: success
  EXPECT_THROW(set_vfio_group_owner(roots_, 40, user, group), Error);  // for a user: it must exist
}

TEST_F(FakeKernel, GroupNodeThroughASymlinkIsRefused) {
  fs::create_symlink(dir_ / "elsewhere", roots_.dev / "vfio/77");
  { std::ofstream(dir_ / "elsewhere") << ""; }
  EXPECT_THROW(set_vfio_group_owner(roots_, 77, ::getuid() == 0 ? 4242 : ::getuid(), ::getgid()), Error);
}

TEST_F(FakeKernel, VfGuidsAreSetBeforeThePolicyAndGivenBack) {
  const VfGuids before = read_vf_guids(roots_.sysfs, "0000:3b:00.0", 2);
  EXPECT_EQ(before, (VfGuids{0, 0}));
  const VfGuids job{vf_node_guid(0x2001, 5), vf_port_guid(0x2001, 5)};
  assign_vf_guids(roots_.sysfs, "0000:3b:00.0", 2, job, VfPolicy::follow);
  EXPECT_EQ(read_vf_guids(roots_.sysfs, "0000:3b:00.0", 2), job);
  EXPECT_EQ(kernel_->read_attr("class/infiniband/mlx5_0/device/sriov/2/port"), "c2:cc:20:01:00:00:05:00\n");
  EXPECT_EQ(parse_vf_policy(kernel_->read_attr("class/infiniband/mlx5_0/device/sriov/2/policy")), VfPolicy::follow);

  release_vf_guids(roots_.sysfs, "0000:3b:00.0", 2, before);
  EXPECT_EQ(read_vf_guids(roots_.sysfs, "0000:3b:00.0", 2), before);
  EXPECT_EQ(parse_vf_policy(kernel_->read_attr("class/infiniband/mlx5_0/device/sriov/2/policy")), VfPolicy::down);
  // A VF that went with sriov_numvfs: nothing to give back; setting one is refused with the fix.
  EXPECT_NO_THROW(release_vf_guids(roots_.sysfs, "0000:3b:00.0", 9, before));
  try {
    assign_vf_guids(roots_.sysfs, "0000:3b:00.0", 9, job, VfPolicy::follow);
    FAIL() << "set the GUIDs of a VF that does not exist";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_THAT(e.what(), HasSubstr("PCI function 0000:3b:00.0 has no VF 9"));
  }
}

TEST(VfPolicy, ParsesWhatSysfsShows) {
  EXPECT_EQ(parse_vf_policy("Follow\n"), VfPolicy::follow);
  EXPECT_EQ(parse_vf_policy("Down"), VfPolicy::down);
  EXPECT_EQ(parse_vf_policy("Up\n"), VfPolicy::up);
  EXPECT_EQ(parse_vf_policy("follow"), std::nullopt);
  EXPECT_EQ(parse_vf_policy(""), std::nullopt);
}

}  // namespace
