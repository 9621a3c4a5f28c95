// networks.yaml's passthrough types (network_passthrough.hpp): infiniband, host-infiniband and
// genericpci, their keys and limits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/net_addresses.hpp"
#include "config/network.hpp"
#include "networks_fixture.hpp"
#include "error.hpp"

using slurmvm::Error;
using namespace slurmvm::config;
using namespace slurmvm::test;
using testing::StrEq;
using testing::ThrowsMessage;

TEST(ConfigNetworks, Infiniband) {
  const auto nets = networks(
      "ib: {type: ib, settings: {host-device: mlx5_0, min-pkey: '0x2000', max-pkey: 0x3000, "
      "opensm-daemon: opensm, opensm-partition-cfg: /etc/opensm/p.conf, "
      "opensm-partition-tpl: /etc/opensm/p.tpl, license: pkey}}");
  const auto& ib = std::get<InfinibandNetwork>(nets.at("ib").settings);
  EXPECT_EQ(nets.at("ib").type_name(), "infiniband");
  EXPECT_EQ(ib.min_pkey, 0x2000);
  EXPECT_EQ(ib.max_pkey, 0x3000);
  EXPECT_EQ(ib.license, "pkey");
  const std::string base =
      "ib: {type: infiniband, settings: {host-device: mlx5_0, opensm-daemon: opensm, "
      "opensm-partition-cfg: /etc/p.conf, opensm-partition-tpl: /etc/p.tpl, ";
  EXPECT_EQ(error_of(base + "min-pkey: '0x3000', max-pkey: '0x2000'}}"),
            "networks.yaml:1: ib.settings.max-pkey: 0x2000 is below min-pkey 0x3000");
  EXPECT_EQ(error_of(base + "min-pkey: '0x7fff', max-pkey: '0x7fff'}}"),
            "networks.yaml:1: ib.settings.min-pkey: expected a partition key between 0x0001 and "
            "0x7ffe, written \"0xNNNN\", got \"0x7fff\"");
  EXPECT_EQ(error_of(base + "min-pkey: 8192, max-pkey: '0x2000'}}"),
            "networks.yaml:1: ib.settings.min-pkey: expected a partition key between 0x0001 and "
            "0x7ffe, written \"0xNNNN\", got \"8192\"");
  EXPECT_EQ(
      error_of("ib: {type: ib, settings: {host-device: mlx5_0, min-pkey: '0x1', max-pkey: '0x2', "
               "opensm-daemon: opensm, opensm-partition-cfg: p.conf, opensm-partition-tpl: /p}}"),
      "networks.yaml:1: ib.settings.opensm-partition-cfg: expected an absolute path, got "
      "\"p.conf\"");
  EXPECT_EQ(error_of("ib: {type: ib, settings: {host-device: ../x}}"),
            "networks.yaml:1: ib.settings.host-device: expected a device or driver name (letters, "
            "digits, '_' or '-'), got \"../x\"");
}

// Two infiniband networks handing out one pkey would put two jobs in one partition.
TEST(ConfigNetworks, InfinibandPkeyRangesAreDisjoint) {
  const std::string a = "a: {type: ib, settings: {host-device: mlx5_0, min-pkey: '0x2000', max-pkey: '0x2fff', "
                        "opensm-daemon: opensm, opensm-partition-cfg: /p, opensm-partition-tpl: /t}}\n";
  EXPECT_NO_THROW(networks(a + "b: {type: ib, settings: {host-device: mlx5_1, min-pkey: '0x3000', max-pkey: "
                               "'0x3fff', opensm-daemon: opensm, opensm-partition-cfg: /p2, opensm-partition-tpl: /t}}"));
  EXPECT_EQ(error_of(a + "b: {type: ib, settings: {host-device: mlx5_1, min-pkey: '0x2fff', max-pkey: '0x3fff', "
                         "opensm-daemon: opensm, opensm-partition-cfg: /p2, opensm-partition-tpl: /t}}"),
            "networks.yaml:2: b.settings.min-pkey: partition keys 0x2fff-0x3fff overlap partition keys "
            "0x2000-0x2fff used at networks.yaml:1");
}

TEST(ConfigNetworks, HostInfiniband) {
  const auto nets = networks("h: {type: host-infiniband, settings: {host-device: mlx5_1}}");
  EXPECT_EQ(std::get<HostInfinibandNetwork>(nets.at("h").settings).host_device, "mlx5_1");
  EXPECT_EQ(error_of("h: {type: hostib, settings: {host-device: mlx5_1, min-pkey: '0x10'}}"),
            "networks.yaml:1: h.settings.min-pkey: unknown key; expected one of: host-device");
}

TEST(ConfigNetworks, GenericPci) {
  const auto nets = networks(
      "gpu: {type: genericpci, settings: {host-device-addrs: ['0000:00:04', '81:00.1'], "
      "host-driver: nvidia}}");
  const auto& g = std::get<GenericPciNetwork>(nets.at("gpu").settings);
  ASSERT_EQ(g.host_device_addrs.size(), 2u);
  EXPECT_EQ(g.host_device_addrs[0].str(), "0000:00:04");
  EXPECT_EQ(g.host_device_addrs[1].str(), "0000:81:00.1");
  EXPECT_EQ(g.host_driver, "nvidia");
  EXPECT_EQ(
      error_of(
          "g: {type: genericpci, settings: {host-device-addrs: ['0000:00:20'], host-driver: x}}"),
      "networks.yaml:1: g.settings.host-device-addrs[0]: expected a PCI address "
      "([DDDD:]BB:SS[.F]), got \"0000:00:20\"");
  EXPECT_EQ(error_of("g: {type: genericpci, settings: {host-device-addrs: ['00:04.0', "
                     "'0000:00:04.0'], host-driver: x}}"),
            "networks.yaml:1: g.settings.host-device-addrs[1]: this device is listed twice");
  EXPECT_EQ(error_of("g: {type: genericpci, settings: {host-device-addrs: [], host-driver: x}}"),
            "networks.yaml:1: g.settings.host-device-addrs: expected a non-empty list of PCI "
            "addresses, got a list");
}
