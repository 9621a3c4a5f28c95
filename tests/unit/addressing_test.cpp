// Addressing: every (network id, rank) maps to its own MAC and IP, inside the job's subnet.
#include <gtest/gtest.h>

#include <set>

#include "addressing.hpp"
#include "error.hpp"

using slurmvm::AddressPlan;
using slurmvm::Error;
using slurmvm::Ipv4Cidr;

TEST(Addressing, DefaultPlanFirstVm) {
  const auto plan = AddressPlan::default_plan();
  const auto a = plan.vm(1, 0);
  EXPECT_EQ(slurmvm::format_mac(a.mac), "52:54:00:00:10:00");
  EXPECT_EQ(slurmvm::format_ipv4(a.ip), "10.128.16.2");
  EXPECT_EQ(slurmvm::format_ipv4(a.gateway), "10.128.16.1");
  EXPECT_EQ(a.prefix, 20u);
  EXPECT_EQ(a.hostname, "vm0");
}

TEST(Addressing, LastVmOfLastNetwork) {
  const auto plan = AddressPlan::default_plan();
  EXPECT_EQ(plan.max_network_id(), 2047u);
  EXPECT_EQ(plan.max_rank(), 4091u);
  const auto a = plan.vm(2047, 4091);
  EXPECT_EQ(slurmvm::format_mac(a.mac), "52:54:00:7f:ff:fb");
  // .254 is the job's DHCP/DNS server, .255 the broadcast.
  EXPECT_EQ(slurmvm::format_ipv4(a.ip), "10.255.255.253");
  EXPECT_EQ(slurmvm::format_ipv4(a.dns), "10.255.255.254");
  EXPECT_EQ(slurmvm::format_ipv4(a.gateway), "10.255.240.1");
  EXPECT_EQ(a.hostname, "vm4091");
}

TEST(Addressing, OutOfPlanIsAnError) {
  const auto plan = AddressPlan::default_plan();
  EXPECT_THROW(plan.vm(0, 0), Error);
  EXPECT_THROW(plan.vm(2048, 0), Error);
  EXPECT_THROW(plan.vm(1, 4092), Error);
}

TEST(Addressing, NoCollisionsAcrossJobsSmallPlanExhaustive) {
  // A small plan makes an exhaustive check cheap: /24 pool in /28 subnets.
  const AddressPlan plan(Ipv4Cidr::parse("192.0.2.0/24"), 28, {0x52, 0x54, 0x00});
  std::set<std::uint32_t> ips;
  std::set<std::string> macs;
  for (std::uint32_t n = 1; n <= plan.max_network_id(); ++n) {
    const auto subnet = plan.job_subnet(n);
    for (std::uint32_t r = 0; r <= plan.max_rank(); ++r) {
      const auto a = plan.vm(n, r);
      EXPECT_TRUE(ips.insert(a.ip).second) << slurmvm::format_ipv4(a.ip);
      EXPECT_TRUE(macs.insert(slurmvm::format_mac(a.mac)).second);
      // Inside the subnet, never its network, gateway, DHCP/DNS server or broadcast address.
      EXPECT_GT(a.ip, subnet.address + 1);
      EXPECT_LT(a.ip, subnet.address + subnet.size() - 2);
      EXPECT_EQ(a.dns, subnet.address + subnet.size() - 2);
    }
  }
  EXPECT_EQ(ips.size(), 15u * 12u);
}

TEST(Addressing, NoCollisionsAcrossJobsDefaultPlanSampled) {
  const auto plan = AddressPlan::default_plan();
  std::set<std::uint32_t> ips;
  std::set<std::string> macs;
  for (std::uint32_t n : {1u, 2u, 3u, 255u, 256u, 1024u, 2047u}) {
    for (std::uint32_t r : {0u, 1u, 255u, 256u, 4090u, 4091u}) {
      const auto a = plan.vm(n, r);
      EXPECT_TRUE(ips.insert(a.ip).second);
      EXPECT_TRUE(macs.insert(slurmvm::format_mac(a.mac)).second);
    }
  }
}

TEST(Addressing, ParseCidr) {
  EXPECT_EQ(Ipv4Cidr::parse("10.128.0.0/9").to_string(), "10.128.0.0/9");
  EXPECT_EQ(Ipv4Cidr::parse("0.0.0.0/0").size(), 0xffffffffu);
  EXPECT_THROW(Ipv4Cidr::parse("10.128.0.1/9"), Error);  // host bits set
  EXPECT_THROW(Ipv4Cidr::parse("10.128.0/9"), Error);
  EXPECT_THROW(Ipv4Cidr::parse("10.128.0.0.0/9"), Error);
  EXPECT_THROW(Ipv4Cidr::parse("10.256.0.0/16"), Error);
  EXPECT_THROW(Ipv4Cidr::parse("10.0.0.0/33"), Error);
  EXPECT_THROW(Ipv4Cidr::parse("10.0.0.0"), Error);
}

TEST(Addressing, MacPrefix) {
  EXPECT_EQ(slurmvm::parse_mac_prefix("52:54:00")[0], 0x52);
  EXPECT_THROW(slurmvm::parse_mac_prefix("01:00:5e"), Error);  // multicast
  EXPECT_THROW(slurmvm::parse_mac_prefix("00:16:3e"), Error);  // globally administered
  EXPECT_THROW(slurmvm::parse_mac_prefix("52-54-00"), Error);
  EXPECT_THROW(slurmvm::parse_mac_prefix("52:54:0g"), Error);
}

TEST(Addressing, PlanRejectsBadSplit) {
  EXPECT_THROW(AddressPlan(Ipv4Cidr::parse("10.0.0.0/16"), 16, {0x52, 0x54, 0x00}), Error);
  EXPECT_THROW(AddressPlan(Ipv4Cidr::parse("10.0.0.0/16"), 31, {0x52, 0x54, 0x00}), Error);
}
