// OpenFlow generator: the exact flow text of a small job (golden), cookies, and refusals.
// The same text is applied to a real OVS in tests/root/netsetup_node_test.cpp.
#include <gtest/gtest.h>

#include "error.hpp"
#include "netsetup/flows.hpp"

using slurmvm::Error;
using namespace slurmvm::netsetup;

namespace {

// One VM and the job's gateway port here, one VM on node 10.200.0.2; job 42, network 7.
JobNetwork small_job() {
  return JobNetwork{42, 7, "svm-gre",
                    {{"svm42-0", {0x52, 0x54, 0, 0, 0x70, 0}, 0x0a807002, false},
                     {"svmgw42", {0x52, 0x54, 0, 0, 0x7f, 0xff}, 0x0a807001, true}},
                    {{{0x52, 0x54, 0, 0, 0x70, 1}, 0x0a807003, 0x0ac80002}}};
}

}  // namespace

TEST(NetsetupFlows, JobFlowsGolden) {
  const std::string expected =
      "delete cookie=0x535600000000002a/-1\n"
      "cookie=0x535600000000002a,table=0,priority=2000,in_port=svm42-0,dl_src=52:54:00:00:70:00,ip,nw_src=10.128.112.2 actions=set_field:7->tun_id,resubmit(,1)\n"
      "cookie=0x535600000000002a,table=0,priority=2000,in_port=svm42-0,dl_src=52:54:00:00:70:00,arp,arp_spa=10.128.112.2,arp_sha=52:54:00:00:70:00 actions=set_field:7->tun_id,resubmit(,1)\n"
      "cookie=0x535600000000002a,table=0,priority=100,in_port=svm42-0 actions=drop\n"
      "cookie=0x535600000000002a,table=0,priority=2000,in_port=svmgw42,dl_src=52:54:00:00:7f:ff,ip actions=set_field:7->tun_id,resubmit(,1)\n"
      "cookie=0x535600000000002a,table=0,priority=2000,in_port=svmgw42,dl_src=52:54:00:00:7f:ff,arp,arp_sha=52:54:00:00:7f:ff actions=set_field:7->tun_id,resubmit(,1)\n"
      "cookie=0x535600000000002a,table=0,priority=100,in_port=svmgw42 actions=drop\n"
      "cookie=0x535600000000002a,table=0,priority=2000,in_port=svm-gre,tun_id=7,tun_src=10.200.0.2 actions=resubmit(,2)\n"
      "cookie=0x535600000000002a,table=1,priority=3000,tun_id=7,arp,arp_op=1,arp_tpa=10.128.112.2 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:52:54:00:00:70:00,load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0x525400007000->NXM_NX_ARP_SHA[],load:0x0a807002->NXM_OF_ARP_SPA[],in_port\n"
      "cookie=0x535600000000002a,table=1,priority=3000,tun_id=7,arp,arp_op=1,arp_tpa=10.128.112.1 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:52:54:00:00:7f:ff,load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0x525400007fff->NXM_NX_ARP_SHA[],load:0x0a807001->NXM_OF_ARP_SPA[],in_port\n"
      "cookie=0x535600000000002a,table=1,priority=3000,tun_id=7,arp,arp_op=1,arp_tpa=10.128.112.3 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:52:54:00:00:70:01,load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0x525400007001->NXM_NX_ARP_SHA[],load:0x0a807003->NXM_OF_ARP_SPA[],in_port\n"
      "cookie=0x535600000000002a,table=1,priority=2000,tun_id=7,dl_dst=52:54:00:00:70:00 actions=output:svm42-0\n"
      "cookie=0x535600000000002a,table=1,priority=2000,tun_id=7,dl_dst=52:54:00:00:7f:ff actions=output:svmgw42\n"
      "cookie=0x535600000000002a,table=1,priority=2000,tun_id=7,dl_dst=52:54:00:00:70:01 actions=set_field:10.200.0.2->tun_dst,output:svm-gre\n"
      "cookie=0x535600000000002a,table=1,priority=100,tun_id=7 actions=drop\n"
      "cookie=0x535600000000002a,table=2,priority=2000,tun_id=7,dl_dst=52:54:00:00:70:00 actions=output:svm42-0\n"
      "cookie=0x535600000000002a,table=2,priority=2000,tun_id=7,dl_dst=52:54:00:00:7f:ff actions=output:svmgw42\n"
      "cookie=0x535600000000002a,table=2,priority=100,tun_id=7 actions=drop\n";
  EXPECT_EQ(job_flows(small_job()), expected);
}

TEST(NetsetupFlows, NodeBaseFlowsGolden) {
  EXPECT_EQ(node_base_flows(),
      "cookie=0x5356000000000000,table=0,priority=0 actions=drop\n"
      "cookie=0x5356000000000000,table=1,priority=0 actions=drop\n"
      "cookie=0x5356000000000000,table=2,priority=0 actions=drop\n");
}

TEST(NetsetupFlows, CookieCarriesTheJobIdUnderTheSlurmVmTag) {
  EXPECT_EQ(job_cookie(42), 0x535600000000002aULL);
  EXPECT_EQ(job_cookie(4294967295u), 0x53560000ffffffffULL);
  EXPECT_NE(job_cookie(1), kNodeCookie);
}

TEST(NetsetupFlows, PriorityBandsAreDisjointAndOrdered) {
  EXPECT_GT(kPrioArpResponder, kPrioForward);
  EXPECT_GT(kPrioForward, kPrioJobDrop);
  EXPECT_GT(kPrioJobDrop, kPrioNodeDrop);
}

TEST(NetsetupFlows, EveryJobFlowCarriesTheCookieAndEveryTableEndsInADrop) {
  const std::string text = job_flows(small_job());
  std::size_t lines = 0;
  for (std::size_t p = 0; p < text.size();) {
    const auto nl = text.find('\n', p);
    const std::string line = text.substr(p, nl - p);
    p = nl + 1;
    if (lines++ == 0) continue;  // the leading delete
    EXPECT_TRUE(line.starts_with("cookie=0x535600000000002a,")) << line;
  }
  for (const char* t : {"table=0,priority=100,in_port=svm42-0 actions=drop",
                        "table=1,priority=100,tun_id=7 actions=drop",
                        "table=2,priority=100,tun_id=7 actions=drop"}) {
    EXPECT_NE(text.find(t), std::string::npos) << t;
  }
  // Nothing is ever flooded.
  EXPECT_EQ(text.find("FLOOD"), std::string::npos);
  EXPECT_EQ(text.find("NORMAL"), std::string::npos);
  EXPECT_EQ(text.find("ff:ff:ff:ff:ff:ff"), std::string::npos);
}

TEST(NetsetupFlows, DhcpIsTheOnlyBroadcastAndStaysOnTheNode) {
  auto n = small_job();
  n.dhcp = true;
  // The job's jailed DHCP/DNS server (dnsmasq_jail.hpp): the subnet's last host address.
  n.local.push_back({"svmdh42", {0x52, 0x54, 0, 0, 0x7f, 0xfe}, 0x0a807ffe, false, true});
  const std::string text = job_flows(n);
  std::size_t broadcasts = 0;
  for (std::size_t p = 0; (p = text.find("255.255.255.255", p)) != std::string::npos; ++p) ++broadcasts;
  EXPECT_EQ(broadcasts, 1u);  // the VM's DHCP request, to the DHCP server's port only
  EXPECT_NE(text.find("priority=2500,in_port=svm42-0,dl_src=52:54:00:00:70:00,udp,nw_src=0.0.0.0,"
                      "nw_dst=255.255.255.255,tp_src=68,tp_dst=67 actions=output:svmdh42\n"),
            std::string::npos)
      << text;
  // Its broadcast answers go to the VMs, never to the gateway (the node's stack).
  EXPECT_NE(text.find("in_port=svmdh42,dl_src=52:54:00:00:7f:fe,dl_dst=ff:ff:ff:ff:ff:ff,udp,nw_src=10.128.127.254,"
                      "tp_src=67,tp_dst=68 actions=output:svm42-0\n"),
            std::string::npos)
      << text;
  // Otherwise it is held to its own MAC and address like a VM, and is reached by ARP like one.
  EXPECT_NE(text.find("in_port=svmdh42,dl_src=52:54:00:00:7f:fe,ip,nw_src=10.128.127.254 actions="), std::string::npos)
      << text;
  EXPECT_NE(text.find("arp,arp_op=1,arp_tpa=10.128.127.254 actions="), std::string::npos) << text;
  // The gateway (the node) never sends DHCP answers to the VMs.
  EXPECT_EQ(text.find("in_port=svmgw42,dl_src=52:54:00:00:7f:ff,dl_dst=ff:ff:ff:ff:ff:ff"), std::string::npos) << text;
  // Never into the tunnel: each node serves its own VMs.
  for (std::size_t p = 0; (p = text.find("tp_dst=67", p)) != std::string::npos; ++p) {
    const auto eol = text.find('\n', p);
    EXPECT_EQ(text.substr(p, eol - p).find("svm-gre"), std::string::npos);
  }
  EXPECT_GT(kPrioArpResponder, kPrioDhcp);
  EXPECT_GT(kPrioDhcp, kPrioForward);
  n.local.pop_back();  // no DHCP server port: nothing to serve DHCP from
  EXPECT_THROW(job_flows(n), Error);
}

TEST(NetsetupFlows, RefusesUnsafePortNamesAndReservedIds) {
  auto n = small_job();
  n.local[0].port = "a,actions=NORMAL";  // would inject a flow field
  EXPECT_THROW(job_flows(n), Error);
  n = small_job();
  n.tunnel_port = "gre 0";
  EXPECT_THROW(job_flows(n), Error);
  n = small_job();
  n.job_id = 0;
  EXPECT_THROW(job_flows(n), Error);
  n = small_job();
  n.tunnel_key = 0;
  EXPECT_THROW(job_flows(n), Error);
}
