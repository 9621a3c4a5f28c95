// Reading PCI functions, an HCA's physical function and its VFs (pci_devices.hpp) from a tree
// shaped like sysfs in a temporary directory: the same relative links the kernel makes
// (bus/pci/devices/<bdf>/driver -> ../../../bus/pci/drivers/<drv>, virtfnN -> ../<bdf>, ...).
#include <gmock/gmock.h>
#include <gtest/gtest.h>


#include <filesystem>
#include <fstream>
#include <string>

#include "error.hpp"
#include "vfio/pci_devices.hpp"
#include "vfio/pci_sysfs.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace slurmvm;
using namespace slurmvm::vfio;
using ::testing::HasSubstr;

namespace {

class FakeSysfs : public ::testing::Test {
 protected:
  void SetUp() override {
    function("0000:3b:00.0", "0x15b3", "0x1017", "mlx5_core", 16);
    for (int vf = 0; vf < 3; ++vf) {
      const std::string bdf = "0000:3b:00." + std::to_string(vf + 2);
      function(bdf, "0x15b3", "0x1018", vf == 1 ? "vfio-pci" : "mlx5_core", 17 + vf);
      fs::create_symlink("../" + bdf, dev("0000:3b:00.0") / ("virtfn" + std::to_string(vf)));
    }
    fs::create_directories(root_ / "class/infiniband/mlx5_0");
    fs::create_symlink("../../../bus/pci/devices/0000:3b:00.0", root_ / "class/infiniband/mlx5_0/device");
  }

  fs::path dev(const std::string& bdf) const { return root_ / "bus/pci/devices" / bdf; }
  void function(const std::string& bdf, const char* vendor, const char* device, const char* driver, int group) {
    fs::create_directories(dev(bdf));
    std::ofstream(dev(bdf) / "vendor") << vendor << "\n";
    std::ofstream(dev(bdf) / "device") << device << "\n";
    if (driver != nullptr) fs::create_symlink(std::string("../../../bus/pci/drivers/") + driver, dev(bdf) / "driver");
    if (group >= 0) {
      fs::create_symlink("../../../kernel/iommu_groups/" + std::to_string(group), dev(bdf) / "iommu_group");
    }
  }

  slurmvm::test::TempDir tmp_{"svm-sysfs"};
  fs::path root_ = tmp_.path();
};

}  // namespace

TEST_F(FakeSysfs, ReadsAFunctionsIdsDriverAndIommuGroup) {
  const PciFunction f = read_pci_function(root_, "0000:3b:00.3");
  EXPECT_EQ(f.vendor, 0x15b3);
  EXPECT_EQ(f.device, 0x1018);
  EXPECT_EQ(f.driver, "vfio-pci");
  EXPECT_EQ(f.iommu_group, 18u);
  function("0000:00:1f.0", "0x8086", "0x7a06", nullptr, -1);  // no driver, no IOMMU
  const PciFunction bare = read_pci_function(root_, "0000:00:1f.0");
  EXPECT_EQ(bare.driver, std::nullopt);
  EXPECT_EQ(bare.iommu_group, std::nullopt);
  try {
    read_pci_function(root_, "0000:99:00.0");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
  }
  EXPECT_THROW(read_pci_function(root_, "../../etc"), Error);  // never a path
}

TEST_F(FakeSysfs, FindsAnHcasVfsInIndexOrderWithTheirDrivers) {
  const std::string pf = ib_device_function(root_, "mlx5_0");
  EXPECT_EQ(pf, "0000:3b:00.0");
  const auto vfs = list_vfs(root_, pf);
  ASSERT_EQ(vfs.size(), 3u);
  EXPECT_EQ(vfs[0].bdf, "0000:3b:00.2");
  EXPECT_EQ(vfs[1].driver, "vfio-pci");
  EXPECT_EQ(vfs[2].index, 2u);
  // The node has 2 free: a third VM on it is refused, naming the node and the device.
  EXPECT_EQ(select_free_vfs(vfs, 2, {}, "node1", "mlx5_0").size(), 2u);
  try {
    ib_device_function(root_, "mlx5_1");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_THAT(e.what(), HasSubstr("no InfiniBand device mlx5_1 on this node"));
  }
}

TEST_F(FakeSysfs, UnexpectedLinksAreRefusedNotFollowed) {
  fs::create_symlink("../../../../etc/passwd", dev("0000:3b:00.0") / "virtfn7");
  EXPECT_THROW(list_vfs(root_, "0000:3b:00.0"), Error);
}

TEST(PciSysfsText, TrimSpace) {
  EXPECT_EQ(trim_space(" Follow\n"), "Follow");
  EXPECT_EQ(trim_space("\t\n"), "");
}
