// The in-process OpenFlow path (openflow_text.hpp, openflow_wire.hpp): the flow text flows.cpp
// writes parses back whole, anything else is refused with its line, and the bytes of each
// message kind are the ones OpenFlow 1.4 and Open vSwitch's Nicira extensions define (worked
// out by hand from the specification here; tests/root/netsetup_ovs_test.cpp checks a real
// ovs-vswitchd ends up with the same table as from ovs-ofctl).
#include <gtest/gtest.h>

#include <filesystem>

#include "error.hpp"
#include "file_read.hpp"
#include "netsetup/flows.hpp"
#include "netsetup/openflow_text.hpp"
#include "netsetup/openflow_wire.hpp"

using namespace slurmvm::netsetup::openflow;
using slurmvm::Error;

namespace {

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) out += {digits[c >> 4], digits[c & 15]};
  return out;
}

std::string refusal(std::string_view text) {
  try {
    parse_flows(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace

TEST(OpenFlowWire, HelloOffersOpenFlow14Only) {
  // ofp_header(version 5, OFPT_HELLO, 16 bytes, xid 7), OFPHET_VERSIONBITMAP of 8 bytes, bit 5.
  EXPECT_EQ(hex(hello(7)), "0500001000000007" "00010008" "00000020");
}

TEST(OpenFlowWire, DropFlowHasNoInstruction) {
  const auto flows = parse_flows("cookie=0x5356000000000001,table=2,priority=100,tun_id=7 actions=drop\n");
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(hex(flow_mod(flows[0], {}, 3)),
            "050e004000000003"                // OFPT_FLOW_MOD, 64 bytes, xid 3
            "5356000000000001" "0000000000000000"  // cookie, cookie_mask
            "0200" "0000" "0000" "0064"       // table 2, ADD, no timeouts, priority 100
            "ffffffff" "ffffffff" "ffffffff"  // no buffer, any port, any group
            "0000" "0000"                     // flags, importance
            "0001" "0010" "80004c08" "0000000000000007");  // OXM match: tunnel_id=7, 16 bytes
}

TEST(OpenFlowWire, DeleteByCookieInEveryTable) {
  const auto flows = parse_flows("delete cookie=0x5356000000001093/-1\n");
  EXPECT_EQ(hex(flow_mod(flows[0], {}, 9)),
            "050e003800000009" "5356000000001093" "ffffffffffffffff"
            "ff03" "0000" "0000" "0000"  // OFPTT_ALL, OFPFC_DELETE
            "ffffffff" "ffffffff" "ffffffff" "0000" "0000"
            "0001000400000000");  // empty match
}

TEST(OpenFlowWire, MatchesInPrerequisiteOrderAndActions) {
  const auto flows = parse_flows(
      "cookie=0x1,table=0,priority=2500,in_port=tap0,dl_src=52:54:00:00:00:01,udp,nw_src=0.0.0.0,"
      "tp_src=68 actions=output:dh,in_port,resubmit(,2)\n");
  const std::string m = hex(flow_mod(flows[0], {{"tap0", 5}, {"dh", 9}}, 1));
  const std::string match = m.substr(2 * 48);
  EXPECT_EQ(match.substr(0, 8), "0001002f");  // OXM, 4 + 43 bytes of entries
  EXPECT_EQ(match.substr(8, 2 * 43),
            "8000000400000005"          // in_port=5
            "80000806525400000001"      // eth_src
            "80000a020800"              // eth_type=ip (from udp)
            "8000140111"                // ip_proto=17
            "8000160400000000"          // ipv4_src=0.0.0.0, exact
            "80001e020044");            // udp_src=68
  EXPECT_EQ(match.substr(2 * 47, 2), "00");                // padded to 48
  const std::string instructions = match.substr(2 * 48);
  EXPECT_EQ(instructions,
            "00040038" "00000000"                             // APPLY_ACTIONS, 56 bytes
            "00000010" "00000009" "0000" "000000000000"       // output:9
            "00000010" "fffffff8" "0000" "000000000000"       // output IN_PORT
            "ffff0010" "00002320" "000e" "fff8" "02" "000000");  // NXAST_RESUBMIT_TABLE(,2)
}

TEST(OpenFlowWire, ArpResponderActions) {
  const auto flows = parse_flows(
      "cookie=0x1,table=1,priority=3000,tun_id=7,arp,arp_op=1 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
      "mod_dl_src:52:54:00:00:00:02,load:0x2->NXM_OF_ARP_OP[],set_field:10.9.0.1->tun_dst\n");
  const std::string m = hex(flow_mod(flows[0], {}, 1));
  EXPECT_EQ(m.substr(2 * 48, 2 * 32),
            "0001001c" "80000a020806" "80002a020001" "80004c080000000000000007" "00000000");
  EXPECT_EQ(m.substr(2 * 80),
            "00040050" "00000000"
            "ffff0018" "00002320" "0006" "0030" "0000" "0000" "00000406" "00000206"  // NXAST_REG_MOVE
            "00190010" "80000806" "525400000002" "0000"                          // set_field eth_src
            "00190010" "80002a02" "0002" "000000000000"                          // set_field arp_op
            "00190010" "00014004" "0a090001" "00000000");                        // NXM_NX_TUN_IPV4_DST
}

TEST(OpenFlowText, EveryGoldenFlowFileParses) {
  namespace fs = std::filesystem;
  std::size_t files = 0;
  for (const auto& dir : fs::directory_iterator(fs::path(SLURM_VM_TEST_DATA) / "golden")) {
    const auto file = dir.path() / "flows.txt";
    if (!fs::exists(file)) continue;
    ++files;
    const auto text = slurmvm::read_file(file, 1 << 20, slurmvm::Symlinks::follow);
    const auto flows = parse_flows(text);
    EXPECT_EQ(flows.size(), static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'))) << file;
    EXPECT_EQ(flows.front().kind, FlowLine::Kind::delete_cookie);
    PortNumbers ports;
    std::uint32_t n = 1;
    for (const auto& p : port_names(flows)) ports[p] = n++;
    for (const auto& f : flows) EXPECT_NO_THROW(flow_mod(f, ports, 1)) << file << " line " << f.line;
  }
  EXPECT_GE(files, 2u);
  EXPECT_NO_THROW(parse_flows(slurmvm::netsetup::node_base_flows()));
}

TEST(OpenFlowText, PortNames) {
  const auto flows = parse_flows(
      "cookie=0x1,table=0,priority=1,in_port=b actions=output:c,output:a\n"
      "cookie=0x1,table=0,priority=1,in_port=a actions=drop\n");
  EXPECT_EQ(port_names(flows), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_THROW(flow_mod(flows[0], {{"a", 1}, {"b", 2}}, 1), Error);  // c has no number
}

TEST(OpenFlowText, RefusesWhatFlowsCppNeverWrites) {
  EXPECT_NE(refusal("cookie=0x1,table=0,priority=1,arp_spa=10.0.0.1 actions=drop").find("line 1: needs arp"),
            std::string::npos);
  EXPECT_NE(refusal("\ncookie=0x1,table=0,priority=1,ip,tp_src=1 actions=drop").find("line 2: needs udp"),
            std::string::npos);
  EXPECT_NE(refusal("cookie=0x1,table=0,priority=1,ip,nw_src=1.2.3.4,nw_src=1.2.3.5 actions=drop")
                .find("field given twice"),
            std::string::npos);
  EXPECT_NE(refusal("cookie=0x1,table=0,priority=1,udp,tp_src=70000 actions=drop").find("not a 2-byte value"),
            std::string::npos);
  EXPECT_NE(refusal("cookie=0x1,table=0,priority=1,dl_dst=01:00:00:00:00:01/01:00:00:00:00:00 actions=drop")
                .find("outside its mask"),
            std::string::npos);
  EXPECT_NE(refusal("cookie=0x1,table=0,priority=1 actions=controller").find("unknown action"), std::string::npos);
  EXPECT_NE(refusal("cookie=0x1,table=0,priority=1,vlan_tci=1 actions=drop").find("unknown match"),
            std::string::npos);
  EXPECT_NE(refusal("cookie=0x1,table=0,priority=1,tun_dst=1.2.3.4 actions=drop").find("unknown match"),
            std::string::npos);
  EXPECT_NE(refusal("cookie=0x1,table=255,priority=1 actions=drop").find("bad value"), std::string::npos);
  EXPECT_NE(refusal("cookie=0x1,table=0,priority=1 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ARP_SPA[]")
                .find("different widths"),
            std::string::npos);
  EXPECT_NE(refusal("cookie=0x1,table=0,priority=1 actions=set_field:1.2.3.4.5->tun_dst").find("not an IPv4"),
            std::string::npos);
  EXPECT_NE(refusal("delete cookie=0x1").find("expected \"delete cookie=C/-1\""), std::string::npos);
  EXPECT_NE(refusal("cookie=0x1,table=0,priority=1").find("actions="), std::string::npos);
}

TEST(OpenFlowWire, ErrorsInWords) {
  // OFPT_ERROR, xid 4: OFPET_BAD_MATCH (4), OFPBMC_BAD_PREREQ (9).
  const std::string msg("\x05\x01\x00\x0c\x00\x00\x00\x04\x00\x04\x00\x09", 12);
  EXPECT_EQ(describe_error(msg), "OFPET_BAD_MATCH, BAD_PREREQ (type 4, code 9)");
  const std::string odd("\x05\x01\x00\x0c\x00\x00\x00\x04\x00\x63\x00\x01", 12);
  EXPECT_EQ(describe_error(odd), "(type 99, code 1)");
  EXPECT_EQ(describe_error("short"), "a truncated OpenFlow error");
}
