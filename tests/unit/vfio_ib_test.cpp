// The pure InfiniBand parts (src/vfio): VF GUIDs derived from the job's pkey and the VM's rank,
// their spellings, OpenSM's partitions file (golden), sysfs text and the choice of a job's VFs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "error.hpp"
#include "golden_file.hpp"
#include "vfio/ib_guid.hpp"
#include "vfio/partitions_file.hpp"
#include "vfio/pci_sysfs.hpp"
#include "vfio/vf_select.hpp"

using namespace slurmvm;
using namespace slurmvm::vfio;
using ::testing::HasSubstr;

TEST(IbGuid, DerivedFromPkeyAndRankAndLocallyAdministered) {
  EXPECT_EQ(format_guid(vf_port_guid(0x2001, 5)), "0xc2cc200100000500");
  EXPECT_EQ(format_guid(vf_node_guid(0x2001, 5)), "0xd2cc200100000500");
  EXPECT_EQ(format_guid_colon(vf_port_guid(0x2001, 0x1234)), "c2:cc:20:01:00:12:34:00");
  // The EUI-64 local bit: never a vendor's GUID.
  EXPECT_EQ((vf_port_guid(0x7ffe, kMaxGuidRank) >> 56) & 0x02, 0x02u);
  // Unique per (pkey, rank): the pkey is unique among running jobs, the rank within one.
  std::set<std::uint64_t> seen;
  for (const std::uint16_t pkey : {std::uint16_t{0x0001}, std::uint16_t{0x2001}, std::uint16_t{0x7ffe}}) {
    for (std::uint32_t rank : {0u, 1u, 255u, 256u, 4091u, kMaxGuidRank}) {
      EXPECT_TRUE(seen.insert(vf_port_guid(pkey, rank)).second);
      EXPECT_TRUE(seen.insert(vf_node_guid(pkey, rank)).second);
    }
  }
  EXPECT_THROW(vf_port_guid(0, 1), Error);
  EXPECT_THROW(vf_port_guid(0x7fff, 1), Error);  // the default partition
  EXPECT_THROW(vf_port_guid(0x2001, kMaxGuidRank + 1), Error);
}

TEST(IbGuid, BothSpellingsParseBack) {
  const std::uint64_t g = vf_port_guid(0x2a3b, 77);
  EXPECT_EQ(parse_guid(format_guid(g)), g);
  EXPECT_EQ(parse_guid(format_guid_colon(g) + "\n"), g);
  EXPECT_EQ(parse_guid("0x0002c90300a1b2c3"), 0x0002c90300a1b2c3ULL);  // ibstat -p
  EXPECT_EQ(parse_guid("  0002C90300A1B2C3 "), 0x0002c90300a1b2c3ULL);
  for (const char* bad : {"", "0x", "0x12345678901234567", "c2:cc:20:01:00:12:34", "c2-cc-20-01-00-12-34-00",
                          "0xg000000000000000", "c2:cc:20:01:00:12:34:0g"}) {
    EXPECT_EQ(parse_guid(bad), std::nullopt) << bad;
  }
}

TEST(PartitionsFile, TemplateThenOnePartitionPerJobGolden) {
  std::vector<JobPartition> jobs;
  JobPartition a{4243, 0x2002, {vf_port_guid(0x2002, 1), vf_port_guid(0x2002, 0)}, {0x0002c90300a1b2c4}};
  JobPartition b{4242, 0x2001, {vf_port_guid(0x2001, 0)}, {0x0002c90300a1b2c3, 0x0002c90300a1b2c4}};
  jobs = {a, b};
  const std::string tpl = "# site partitions\nDefault=0x7fff, ipoib : ALL=full ;";  // no final newline
  const std::string text = partitions_file(tpl, jobs);
  expect_golden("ib/partitions.conf", text);
  // Deterministic: the same jobs in another order, the same bytes (no reload for nothing).
  EXPECT_EQ(partitions_file(tpl, {b, a}), text);
  EXPECT_EQ(partitions_file(tpl, {}), tpl + "\n# slurm-vm: one partition per running job, written by vm-pkeyd "
                                            "(changes here are overwritten)\n");
}

TEST(PartitionsFile, LongMemberListsAreSplitAndPkeysAreUnique) {
  JobPartition big{7, 0x0100, {}, {}};
  for (std::uint32_t r = 0; r < 300; ++r) big.vf_guids.push_back(vf_port_guid(0x0100, r));
  const std::string text = partitions_file("", {big});
  std::size_t lines = 0, longest = 0, at = 0;
  while (at < text.size()) {
    const auto nl = text.find('\n', at);
    longest = std::max(longest, nl - at);
    ++lines;
    at = nl + 1;
  }
  EXPECT_EQ(lines, 1u + 3u);  // the header, then 128 + 128 + 44 GUIDs
  EXPECT_LT(longest, 4096u);  // OpenSM's line limit
  EXPECT_THROW(partitions_file("", {big, JobPartition{8, 0x0100, {1}, {}}}), Error);
}

TEST(PciSysfs, TextOfTheKernelsFiles) {
  EXPECT_EQ(parse_pci_id("0x15b3\n"), 0x15b3);
  EXPECT_EQ(parse_pci_id("0x101c"), 0x101c);
  EXPECT_EQ(parse_pci_id("15b3"), std::nullopt);
  EXPECT_EQ(parse_pci_id("0x1234567"), std::nullopt);
  EXPECT_EQ(parse_count("8\n"), 8u);
  EXPECT_EQ(parse_count("-1"), std::nullopt);
  EXPECT_EQ(link_name("../../../../bus/pci/drivers/mlx5_core\n"), "mlx5_core");
  EXPECT_EQ(parse_iommu_group("../../../../kernel/iommu_groups/17"), 17u);
  EXPECT_EQ(parse_iommu_group("../../../../kernel/other/17"), std::nullopt);
  EXPECT_EQ(parse_virtfn_entry("virtfn12"), 12u);
  EXPECT_EQ(parse_virtfn_entry("virtfn"), std::nullopt);
  EXPECT_EQ(parse_virtfn_entry("virtfn01"), std::nullopt);
  EXPECT_EQ(parse_virtfn_entry("physfn"), std::nullopt);
  EXPECT_TRUE(is_full_bdf("0000:3b:00.2"));
  for (const char* bad : {"3b:00.2", "0000:3b:00.8", "0000:3b:00.2\n", "0000:3b:0g.2", "../3b:00.2/x"}) {
    EXPECT_FALSE(is_full_bdf(bad)) << bad;
  }
  EXPECT_TRUE(is_driver_name("vfio-pci"));
  EXPECT_FALSE(is_driver_name("../x"));
}

TEST(VfSelect, LowestFreeVfsNeitherBoundToVfioNorHeldByAnotherJob) {
  const std::vector<VfState> vfs = {{3, "0000:3b:00.5", "mlx5_core"},
                                    {0, "0000:3b:00.2", "vfio-pci"},
                                    {1, "0000:3b:00.3", "mlx5_core"},
                                    {2, "0000:3b:00.4", std::nullopt}};
  const auto got = select_free_vfs(vfs, 2, {"0000:3b:00.3"}, "node1", "mlx5_0");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].bdf, "0000:3b:00.4");  // index 2: unbound counts as free
  EXPECT_EQ(got[1].bdf, "0000:3b:00.5");
  try {
    select_free_vfs(vfs, 3, {"0000:3b:00.3"}, "node1", "mlx5_0");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_THAT(e.what(), HasSubstr("node1: mlx5_0 has 2 free SR-IOV virtual functions of 4, the job needs 3"));
  }
  EXPECT_TRUE(select_free_vfs(vfs, 0, {}, "node1", "mlx5_0").empty());
}

TEST(IbGuid, HostInfinibandGuidsComeFromTheJobAndRank) {
  EXPECT_EQ(format_guid(host_vf_port_guid(4242, 5)), "0xc6cc000010920005");
  EXPECT_EQ(format_guid(host_vf_node_guid(0xffffffff, 0xffff)), "0xd6ccffffffffffff");
  EXPECT_THROW(host_vf_port_guid(1, kMaxGuidRank + 1), Error);
  // Never one of a pkey-derived VF's.
  EXPECT_NE(host_vf_port_guid(4242, 5) >> 56, vf_port_guid(0x2001, 5) >> 56);
}
