// The address parsers behind networks.yaml (net_addresses.hpp): IPv4 networks, MACs, PCI
// addresses, partition keys, interface names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/net_addresses.hpp"
#include "error.hpp"

using namespace slurmvm::config;

TEST(ConfigNetAddresses, Ipv4) {
  EXPECT_EQ(parse_ipv4("10.0.0.1"), 0x0A000001u);
  EXPECT_EQ(parse_ipv4("255.255.255.255"), 0xFFFFFFFFu);
  for (const char* bad :
       {"10.0.0", "10.0.0.1.2", "10.0.0.256", "10.0.0.01", "10..0.1", "a.b.c.d", ""}) {
    EXPECT_EQ(parse_ipv4(bad), std::nullopt) << bad;
  }
  const auto net = parse_ipv4_network("192.168.0.0/16");
  ASSERT_TRUE(net);
  EXPECT_EQ(net->mask(), 0xFFFF0000u);
  EXPECT_FALSE(net->has_host_bits());
  EXPECT_TRUE(net->overlaps(*parse_ipv4_network("192.168.4.0/24")));
  EXPECT_FALSE(net->overlaps(*parse_ipv4_network("192.169.0.0/16")));
  EXPECT_EQ(parse_ipv4_network("1.2.3.4/33"), std::nullopt);
  EXPECT_EQ(parse_ipv4_network("0.0.0.0/0")->mask(), 0u);
}

TEST(ConfigNetAddresses, MacPciPkeyIfname) {
  EXPECT_EQ(parse_mac_prefix("52:54:00")->str(), "52:54:00");
  EXPECT_EQ(parse_mac_prefix("AA")->length, 1);
  EXPECT_EQ(parse_mac_prefix("52:54:00:00:01"), std::nullopt);
  EXPECT_EQ(parse_mac_prefix("5:54"), std::nullopt);
  EXPECT_EQ(parse_mac_prefix(""), std::nullopt);
  EXPECT_EQ(parse_pci_address("0000:3b:1f.7")->str(), "0000:3b:1f.7");
  EXPECT_EQ(parse_pci_address("3b:00")->str(), "0000:3b:00");
  EXPECT_EQ(parse_pci_address("3b:00.8"), std::nullopt);
  EXPECT_EQ(parse_pci_address("000:3b:00.0"), std::nullopt);
  EXPECT_EQ(parse_pci_address("3b"), std::nullopt);
  EXPECT_EQ(parse_pkey("0x7ffe"), 0x7ffe);
  EXPECT_EQ(parse_pkey("0x8000"), std::nullopt);
  EXPECT_EQ(parse_pkey("0x12345"), std::nullopt);
  EXPECT_EQ(parse_pkey("1234"), std::nullopt);
  EXPECT_TRUE(is_valid_ifname("br0"));
  EXPECT_TRUE(is_valid_ifname("a23456789012345"));
  EXPECT_FALSE(is_valid_ifname("a234567890123456"));
  EXPECT_FALSE(is_valid_ifname("br/0"));
  EXPECT_FALSE(is_valid_ifname(".."));
}
