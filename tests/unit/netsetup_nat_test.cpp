// The nftables generator (golden text), /proc/net/tcp parsing and host-port allocation.
#include <gtest/gtest.h>

#include "error.hpp"
#include "netsetup/nat.hpp"

using namespace slurmvm::netsetup;

TEST(NatTable, NoVmJobDeletesTheTable) {
  EXPECT_EQ(nat_table_batch({}, 0), "table ip slurm_vm {}\ndelete table ip slurm_vm\n");
}

TEST(NatTable, VmJobsWithoutReverseNatStillGetTheFilter) {
  const std::string text = nat_table_batch({}, 1);
  EXPECT_NE(text.find("    iifname \"svm*\" drop\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("dnat to"), std::string::npos) << text;
}

// The exact text is pinned in tests/data/golden/job-4242-nodeA/nft-batch.nft
// (node_job_golden_test.cpp); here, that it depends only on the set of rules.
TEST(NatTable, SortedWhateverTheInputOrder) {
  const std::vector<NatRule> rules = {
      {4243, 0, 60224, 0x0a800202, 22},
      {4242, 1, 60223, 0x0a808003, 22},
      {4242, 0, 60222, 0x0a808002, 22},
  };
  std::vector<NatRule> reversed(rules.rbegin(), rules.rend());
  const std::string text = nat_table_batch(rules, 2);
  EXPECT_EQ(nat_table_batch(reversed, 2), text);
  EXPECT_LT(text.find("job 4242 vm0"), text.find("job 4242 vm1"));
  EXPECT_LT(text.find("job 4242 vm1"), text.find("job 4243 vm0"));
}

TEST(ProcNetTcp, ListeningPortsOnly) {
  const char* tcp =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0 100 0 0 10 0\n"
      "   1: 0100007F:EAE6 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1235 1 0 100 0 0 10 0\n"
      "   2: 0B00E90A:EAE7 0C00E90A:0016 01 00000000:00000000 00:00000000 00000000  1000        0 1236 1 0 20 4 30 10 -1\n"
      "garbage line\n"
      "   3: 0100007F:zzzz 00000000:0000 0A\n";
  EXPECT_EQ(parse_listening_ports(tcp), (std::set<std::uint16_t>{22, 60134}));
  const char* tcp6 =
      "  sl  local_address                         remote_address                        st\n"
      "   0: 00000000000000000000000000000000:EAE8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1 0 100 0 0 10 0";
  EXPECT_EQ(parse_listening_ports(tcp6), (std::set<std::uint16_t>{60136}));
  EXPECT_TRUE(parse_listening_ports("").empty());
}

TEST(HostPorts, LowestFreeInRange) {
  EXPECT_EQ(allocate_host_ports(3, 60222, 60230, {60222, 60224}),
            (std::vector<std::uint16_t>{60223, 60225, 60226}));
  EXPECT_TRUE(allocate_host_ports(0, 60222, 60222, {60222}).empty());
  EXPECT_EQ(allocate_host_ports(1, 65535, 65535, {}), (std::vector<std::uint16_t>{65535}));
}

TEST(HostPorts, ExhaustedRangeSaysHowManyWereFree) {
  try {
    allocate_host_ports(2, 60222, 60224, {60222, 60224});
    FAIL() << "no error";
  } catch (const slurmvm::Error& e) {
    EXPECT_EQ(e.kind(), slurmvm::ErrorKind::config);
    EXPECT_EQ(e.message(),
              "reverse NAT: 2 host ports are needed, but only 1 of [60222, 60224] is free on this "
              "node (other jobs and listening sockets hold the rest)");
  }
}
