// Open vSwitch against a real ovsdb-server and ovs-vswitchd private to each test, inside a
// throw-away network namespace (node_sandbox.hpp): bridges, ports in one transaction, the
// flow-based GRE port, a job's flows under its cookie as atomic bundles. Skipped without root.
#include <gtest/gtest.h>

#include <algorithm>

#include "file_read.hpp"
#include "netsetup/openflow_text.hpp"
#include "node_sandbox.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace slurmvm::netsetup;
using namespace slurmvm::test;
using slurmvm::Command;
using slurmvm::Error;
using slurmvm::UniqueFd;
class NetsetupOvs : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    if (!have("/usr/sbin/ovs-vswitchd") || !have("/usr/sbin/ovsdb-server")) {
      GTEST_SKIP() << "Open vSwitch is not installed";
    }
    ns_ = std::make_unique<TestNetns>();
    ovs_ = std::make_unique<PrivateOvs>(*ns_);
    client_ = std::make_unique<OvsdbClient>(OvsdbClient::connect(ovs_->db()));
    vs_ = std::make_unique<Vswitch>(*client_);
    vs_->ensure_bridge("br-int", "netdev");
  }
  void TearDown() override {
    vs_.reset();
    client_.reset();
    std::vector<pid_t> pids = ovs_ ? ovs_->pids() : std::vector<pid_t>{};
    ovs_.reset();
    for (pid_t p : pids) EXPECT_TRUE(process_gone(p)) << "pid " << p << " still running";
    ns_.reset();
  }

  std::string ofport(const std::string& name) {
    return trim(ovs_->vsctl({"get", "Interface", name, "ofport"}));
  }

  std::unique_ptr<TestNetns> ns_;
  std::unique_ptr<PrivateOvs> ovs_;
  std::unique_ptr<OvsdbClient> client_;
  std::unique_ptr<Vswitch> vs_;
};

TEST_F(NetsetupOvs, EnsureBridgeIsIdempotentAndChecksTheDatapath) {
  EXPECT_EQ(trim(ovs_->vsctl({"get", "Bridge", "br-int", "datapath_type"})), "netdev");
  EXPECT_EQ(trim(ovs_->vsctl({"get", "Bridge", "br-int", "fail_mode"})), "secure");
  EXPECT_NO_THROW(vs_->ensure_bridge("br-int", "netdev"));
  EXPECT_THROW(vs_->ensure_bridge("br-int", "system"), Error);
}

TEST_F(NetsetupOvs, AddAndRemoveATapPortInOneTransaction) {
  const std::string tap = "svmt-vm0";
  {
    EnterNetns in(ns_->name());
    create_tap({tap, 65534, 1450, false});
  }
  vs_->add_ports("br-int", {PortSpec{tap, "", {}, {{"slurm-vm-job", "42"}}, std::nullopt, std::nullopt}},
                 "slurm-vm: job 42");
  EXPECT_EQ(trim(ovs_->vsctl({"list-ports", "br-int"})), tap);
  const auto st = vs_->interface_status(tap);
  ASSERT_TRUE(st);
  ASSERT_TRUE(st->ofport);
  EXPECT_GT(*st->ofport, 0);
  EXPECT_EQ(ofport(tap), std::to_string(*st->ofport));
  EXPECT_EQ(vs_->list_ports("br-int"), std::vector<std::string>{tap});

  // Adding it again is a constraint violation reported with OVSDB's words.
  try {
    vs_->add_ports("br-int", {PortSpec{tap, "", {}, {}, std::nullopt, std::nullopt}});
    ADD_FAILURE() << "duplicate port accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("constraint violation"), std::string::npos) << e.what();
  }
  // A missing bridge aborts the whole transaction at the guard.
  EXPECT_THROW(vs_->add_ports("br-nope", {PortSpec{"svmt-x", "", {}, {}, std::nullopt, std::nullopt}}), Error);

  EXPECT_EQ(vs_->remove_ports("br-int", {tap, "svmt-absent"}), 1u);
  EXPECT_EQ(trim(ovs_->vsctl({"list-ports", "br-int"})), "");
  EXPECT_FALSE(vs_->interface_status(tap));
  EXPECT_EQ(vs_->remove_ports("br-int", {tap}), 0u);  // idempotent
  EnterNetns in(ns_->name());
  EXPECT_TRUE(delete_tap(tap));
}

TEST_F(NetsetupOvs, FlowBasedGreTunnelPort) {
  vs_->ensure_tunnel_port("br-int", "svmt-gre");
  EXPECT_EQ(trim(ovs_->vsctl({"get", "Interface", "svmt-gre", "type"})), "gre");
  EXPECT_EQ(trim(ovs_->vsctl({"get", "Interface", "svmt-gre", "options"})),
            "{key=flow, remote_ip=flow}");
  EXPECT_GT(std::stoi(ofport("svmt-gre")), 0);
  EXPECT_NO_THROW(vs_->ensure_tunnel_port("br-int", "svmt-gre"));  // idempotent
  EXPECT_THROW(vs_->ensure_tunnel_port("br-int", "br-int"), Error);  // exists, not a tunnel
}

TEST_F(NetsetupOvs, JobFlowsUnderTheirCookieComeAndGoAtomically) {
  vs_->ensure_tunnel_port("br-int", "svmt-gre");
  std::vector<std::string> taps = {"svmt-a0", "svmt-a1", "svmt-b0"};
  {
    EnterNetns in(ns_->name());
    for (const auto& t : taps) create_tap({t, 65534, 1450, false});
  }
  std::vector<PortSpec> ports;
  for (const auto& t : taps) ports.push_back({t, "", {}, {}, std::nullopt, std::nullopt});
  vs_->add_ports("br-int", ports);

  const std::string mgmt = ovs_->mgmt("br-int");
  const OpenFlowTarget target{mgmt.substr(5)};  // without ovs-ofctl's "unix:"
  const auto numbers = vs_->port_numbers({"svmt-a0", "svmt-a1", "svmt-b0", "svmt-gre"});
  apply_flows(target, node_base_flows(), nullptr);  // names no port: never numbered
  JobNetwork a{42, 7, "svmt-gre",
               {{"svmt-a0", {0x52, 0x54, 0, 0, 0x70, 0}, 0x0a807002, false},
                {"svmt-a1", {0x52, 0x54, 0, 0, 0x70, 1}, 0x0a807003, false}},
               {{{0x52, 0x54, 0, 0, 0x70, 2}, 0x0a807004, 0x0ac80002}}};
  JobNetwork b{43, 8, "svmt-gre", {{"svmt-b0", {0x52, 0x54, 0, 0, 0x80, 0}, 0x0a808002, false}}, {}};
  apply_flows(target, job_flows(a), [&](const auto&) { return numbers; });
  apply_flows(target, job_flows(b), [&](const auto&) { return numbers; });
  apply_flows(target, job_flows(a), [&](const auto&) { return numbers; });  // re-applying replaces, never duplicates

  auto dump = [&](std::uint32_t job) {
    return checked({"/usr/bin/ovs-ofctl", "dump-flows", mgmt,
                    fmt::format("cookie=0x{:x}/-1", job_cookie(job))});
  };
  auto count_lines = [](const std::string& s, const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
    return n;
  };
  const std::string fa = dump(42);
  auto flow_count = [](const std::string& text) {  // lines minus the leading "delete"
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) - 1;
  };
  const std::size_t expected_a = flow_count(job_flows(a));
  const std::size_t expected_b = flow_count(job_flows(b));
  EXPECT_EQ(expected_b, 8u);  // b has no VM on another node: no tunnel ingress at all
  EXPECT_EQ(count_lines(fa, "cookie=0x535600000000002a"), expected_a) << fa;
  EXPECT_NE(fa.find("arp_tpa=10.128.112.4"), std::string::npos) << fa;
  // ovs-ofctl prints set_field:10.200.0.2->tun_dst as a load into the tunnel register.
  EXPECT_NE(fa.find("load:0xac80002->NXM_NX_TUN_IPV4_DST[]"), std::string::npos) << fa;
  EXPECT_EQ(count_lines(dump(43), "cookie=0x535600000000002b"), expected_b);

  delete_job_flows(target, 42);
  EXPECT_EQ(count_lines(dump(42), "cookie="), 0u);
  EXPECT_EQ(count_lines(dump(43), "cookie=0x535600000000002b"), expected_b);  // untouched
  EXPECT_NO_THROW(delete_job_flows(target, 42));                       // idempotent
  const std::string all = checked({"/usr/bin/ovs-ofctl", "dump-flows", mgmt});
  EXPECT_EQ(count_lines(all, "priority=0 actions=drop"), 3u) << all;  // base flows stay

  // A bad bundle changes nothing: job 43 stays as it was.
  JobNetwork broken = b;
  broken.local[0].port = "svmt-nope";  // no number for the port: nothing is sent
  EXPECT_THROW(apply_flows(target, job_flows(broken), [&](const auto&) { return numbers; }), Error);
  EXPECT_EQ(count_lines(dump(43), "cookie=0x535600000000002b"), expected_b);
  // A flow Open vSwitch refuses (a port number above OFPP_MAX is no output port) aborts the
  // whole bundle, and the error names the flow's line and OpenFlow's reason.
  auto bad_ports = numbers;
  bad_ports["svmt-b0"] = 0xffffff00;
  try {
    apply_flows(target, job_flows(b), [&](const auto&) { return bad_ports; });
    ADD_FAILURE() << "a refused flow was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("refused the OpenFlow bundle: flow line "), std::string::npos) << e.what();
  }
  EXPECT_EQ(count_lines(dump(43), "cookie=0x535600000000002b"), expected_b);

  vs_->remove_ports("br-int", taps);
  EnterNetns in(ns_->name());
  for (const auto& t : taps) EXPECT_TRUE(delete_tap(t));
}

// The in-process encoder against the reference: the golden job flows sent by our bundle and by
// `ovs-ofctl --bundle add-flows` leave exactly the same flow table.
TEST_F(NetsetupOvs, InProcessBundleEqualsOvsOfctl) {
  const std::string golden = std::string(SLURM_VM_TEST_DATA) + "/golden/job-4243-nodeA-networks/flows.txt";
  const std::string flows = slurmvm::read_file(golden, 1 << 20, slurmvm::Symlinks::follow);
  const auto names = openflow::port_names(openflow::parse_flows(flows));
  ASSERT_GE(names.size(), 5u);
  {
    EnterNetns in(ns_->name());
    for (const auto& n : names) {
      if (n != "svm-gre") create_tap({n, 65534, 1450, false});
    }
  }
  vs_->ensure_tunnel_port("br-int", "svm-gre");
  std::vector<PortSpec> ports;
  for (const auto& n : names) {
    if (n != "svm-gre") ports.push_back({n, "", {}, {}, std::nullopt, std::nullopt});
  }
  vs_->add_ports("br-int", ports);
  const std::string mgmt = ovs_->mgmt("br-int");
  auto table = [&] { return checked({"/usr/bin/ovs-ofctl", "--no-stats", "--sort", "dump-flows", mgmt}); };

  apply_flows(OpenFlowTarget{mgmt.substr(5)}, node_base_flows() + flows,
              [&](const std::vector<std::string>& named) { return vs_->port_numbers(named); });
  const std::string ours = table();
  checked({"/usr/bin/ovs-ofctl", "del-flows", mgmt});
  Command ofctl;
  ofctl.argv = {"/usr/bin/ovs-ofctl", "--bundle", "add-flows", mgmt, "-"};
  ofctl.stdin_data = node_base_flows() + flows;
  slurmvm::run_checked(ofctl);
  const std::string reference = table();
  EXPECT_EQ(ours, reference);
  EXPECT_EQ(static_cast<std::size_t>(std::count(ours.begin(), ours.end(), '\n')),
            static_cast<std::size_t>(std::count(flows.begin(), flows.end(), '\n')) - 1 + 3);

  delete_job_flows(OpenFlowTarget{mgmt.substr(5)}, 4243);
  EXPECT_EQ(table().find("cookie=0x5356000000001093"), std::string::npos);
  vs_->remove_ports("br-int", [&] { std::vector<std::string> v; for (auto& p : ports) v.push_back(p.name); return v; }());
  EnterNetns in(ns_->name());
  for (const auto& p : ports) EXPECT_TRUE(delete_tap(p.name));
}
