// Node plumbing against the real kernel and a real Open vSwitch, each test inside a
// throw-away network namespace "svmt-<pid>-<n>": TAPs, a private ovsdb-server and
// ovs-vswitchd (userspace netdev datapath, private sockets and pidfiles under a temp dir),
// OVSDB transactions and OpenFlow bundles. Skipped without root. Everything a test starts is
// stopped by pid, everything it creates is deleted, on every path (RAII).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "error.hpp"
#include "netsetup/bridge_port.hpp"
#include "netsetup/flows.hpp"
#include "netsetup/ovsdb.hpp"
#include "netsetup/link_group.hpp"
#include "netsetup/tap.hpp"
#include "subprocess.hpp"
#include "unique_fd.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace slurmvm::netsetup;
using slurmvm::Command;
using slurmvm::Error;
using slurmvm::UniqueFd;

namespace {

slurmvm::RunResult run_argv(std::vector<std::string> argv, std::vector<std::string> env = {}) {
  Command c;
  c.argv = std::move(argv);
  c.env_set = std::move(env);
  c.timeout = 20s;
  return slurmvm::run(c);
}

std::string checked(std::vector<std::string> argv) {
  Command c;
  c.argv = std::move(argv);
  c.timeout = 20s;
  return slurmvm::run_checked(c).out;
}

// A named network namespace, deleted on destruction (with whatever is left inside it).
class TestNetns {
 public:
  TestNetns() {
    static int counter = 0;
    name_ = fmt::format("svmt-{}-{}", ::getpid(), counter++);
    checked({"/usr/sbin/ip", "netns", "add", name_});
    try {
      checked({"/usr/sbin/ip", "-n", name_, "link", "set", "lo", "up"});
    } catch (...) {
      run_argv({"/usr/sbin/ip", "netns", "delete", name_});  // no destructor for a failed constructor
      throw;
    }
  }
  ~TestNetns() { run_argv({"/usr/sbin/ip", "netns", "delete", name_}); }
  TestNetns(const TestNetns&) = delete;
  TestNetns& operator=(const TestNetns&) = delete;
  const std::string& name() const { return name_; }
  // Runs a program inside the namespace, with /sys remounted for it (ip netns exec).
  std::string exec(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"/usr/sbin/ip", "netns", "exec", name_});
    return checked(std::move(argv));
  }

 private:
  std::string name_;
};

// Moves the calling thread into a namespace until destruction. The library acts in the
// caller's namespace, as the helpers will in the host's.
class EnterNetns {
 public:
  explicit EnterNetns(const std::string& name)
      : self_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
    UniqueFd target(::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
    if (!self_ || !target || ::setns(target.get(), CLONE_NEWNET) != 0) {
      throw Error::from_errno("entering netns " + name, errno);
    }
  }
  ~EnterNetns() {
    if (::setns(self_.get(), CLONE_NEWNET) != 0) std::abort();  // never run on in a test netns
  }
  EnterNetns(const EnterNetns&) = delete;
  EnterNetns& operator=(const EnterNetns&) = delete;

 private:
  UniqueFd self_;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool have(const char* path) { return ::access(path, X_OK) == 0; }

#define SKIP_UNLESS_ROOT()                                                  \
  do {                                                                      \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)"; \
  } while (0)

// A private ovsdb-server and ovs-vswitchd in `ns` (docs/design.md §7.1), stopped by pid.
class PrivateOvs {
 public:
  explicit PrivateOvs(const TestNetns& ns) {
    // Detached daemons are re-parented to the nearest subreaper: make that us, so we can
    // wait for them and know they are gone.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    char tmpl[] = "/tmp/svmt-ovs-XXXXXX";
    if (!::mkdtemp(tmpl)) throw Error::from_errno("mkdtemp", errno);
    dir_ = tmpl;
    try {
      setup(ns);
    } catch (...) {
      teardown();  // a failed constructor gets no destructor: stop what did start
      throw;
    }
  }
  ~PrivateOvs() { teardown(); }
  PrivateOvs(const PrivateOvs&) = delete;
  PrivateOvs& operator=(const PrivateOvs&) = delete;

  std::string db() const { return (dir_ / "db.sock").string(); }
  std::string mgmt(const std::string& bridge) const { return "unix:" + (dir_ / (bridge + ".mgmt")).string(); }
  std::string vsctl(std::vector<std::string> args) const {
    args.insert(args.begin(), {"/usr/bin/ovs-vsctl", "--db=unix:" + db(), "--timeout=10"});
    return checked(std::move(args));
  }
  const std::vector<pid_t>& pids() const { return pids_; }

 private:
  void setup(const TestNetns& ns) {
    const std::string d = dir_.string();
    checked({"/usr/bin/ovsdb-tool", "create", d + "/conf.db",
             "/usr/share/openvswitch/vswitch.ovsschema"});
    start(ns, {"/usr/sbin/ovsdb-server", d + "/conf.db", "--remote=punix:" + d + "/db.sock",
               "--pidfile=" + d + "/ovsdb-server.pid", "--unixctl=" + d + "/ovsdb-server.ctl",
               "--log-file=" + d + "/ovsdb-server.log", "-vconsole:off", "--detach"},
          d + "/ovsdb-server.pid");
    checked({"/usr/bin/ovs-vsctl", "--db=unix:" + d + "/db.sock", "--timeout=10", "--no-wait",
             "init"});
    start(ns, {"/usr/sbin/ovs-vswitchd", "unix:" + d + "/db.sock",
               "--pidfile=" + d + "/ovs-vswitchd.pid", "--unixctl=" + d + "/ovs-vswitchd.ctl",
               "--log-file=" + d + "/ovs-vswitchd.log", "-vconsole:off", "--detach"},
          d + "/ovs-vswitchd.pid");
  }
  void teardown() {
    // vswitchd first (it holds the db connection), then the server.
    for (auto it = pids_.rbegin(); it != pids_.rend(); ++it) stop(*it);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void start(const TestNetns& ns, std::vector<std::string> argv, const std::string& pidfile) {
    argv.insert(argv.begin(), {"/usr/sbin/ip", "netns", "exec", ns.name()});
    Command c;
    c.argv = std::move(argv);
    // OVS_RUNDIR: the bridges' OpenFlow sockets (<bridge>.mgmt) go to our dir, not /run.
    c.env_set = {"OVS_RUNDIR=" + dir_.string()};
    c.timeout = 20s;
    slurmvm::run_checked(c);  // --detach returns once the daemon is ready
    pids_.push_back(static_cast<pid_t>(std::stol(slurp(pidfile))));
  }
  static void stop(pid_t pid) {
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 500; ++i) {  // 5 s, then SIGKILL
      if (::waitpid(pid, nullptr, WNOHANG) == pid || ::kill(pid, 0) != 0) return;
      std::this_thread::sleep_for(10ms);
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }

  fs::path dir_;
  std::vector<pid_t> pids_;
};

bool process_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

}  // namespace

// ---------------------------------------------------------------------------------------
// TAP

TEST(NetsetupTap, CreateOwnedPersistentTapThenDeleteIdempotently) {
  SKIP_UNLESS_ROOT();
  TestNetns ns;
  const std::string tap = "svmt-tap0";
  {
    EnterNetns in(ns.name());
    create_tap({tap, 65534, 1450, false});
    EXPECT_TRUE(interface_exists(tap));
    // A second create must not take the device over.
    EXPECT_THROW(create_tap({tap, 1000, 1450, false}), Error);
  }
  const std::string sys = "/sys/class/net/" + tap + "/";
  EXPECT_EQ(trim(ns.exec({"/bin/cat", sys + "owner"})), "65534");
  // No group (-1): only the owner may attach (tap.cpp, TUNSETGROUP).
  EXPECT_EQ(trim(ns.exec({"/bin/cat", sys + "group"})), "-1");
  EXPECT_EQ(trim(ns.exec({"/bin/cat", sys + "mtu"})), "1450");
  const unsigned long flags = std::stoul(trim(ns.exec({"/bin/cat", sys + "flags"})), nullptr, 16);
  EXPECT_TRUE(flags & 0x1) << "IFF_UP";
  // tun_flags: IFF_TAP (0x2) | IFF_NO_PI (0x1000), persistent (IFF_PERSIST 0x800)
  const unsigned long tf = std::stoul(trim(ns.exec({"/bin/cat", sys + "tun_flags"})), nullptr, 16);
  EXPECT_EQ(tf & 0x1003, 0x1002u);
  EXPECT_TRUE(tf & 0x800) << "IFF_PERSIST";
  {
    EnterNetns in(ns.name());
    EXPECT_TRUE(delete_tap(tap));
    EXPECT_FALSE(interface_exists(tap));
    EXPECT_FALSE(delete_tap(tap));  // already gone: success
  }
  EXPECT_EQ(run_argv({"/usr/sbin/ip", "netns", "exec", ns.name(), "/bin/cat", sys + "owner"}).exit_code, 1);
}

TEST(NetsetupTap, AJobsTapsGoAwayTogetherByLinkGroup) {
  SKIP_UNLESS_ROOT();
  TestNetns ns;
  EnterNetns in(ns.name());
  const std::uint32_t group = tap_link_group(7), other = tap_link_group(8);
  EXPECT_EQ(group, 0x53560007u);
  for (const char* t : {"svmt-g0", "svmt-g1", "svmt-g2"}) create_tap({t, 65534, 1450, false, group});
  create_tap({"svmt-other", 65534, 1450, false, other});
  create_tap({"svmt-none", 65534, 1450, false, 0});
  EXPECT_TRUE(delete_link_group(group));
  for (const char* t : {"svmt-g0", "svmt-g1", "svmt-g2"}) EXPECT_FALSE(interface_exists(t)) << t;
  EXPECT_TRUE(interface_exists("svmt-other"));  // another job's group: untouched
  EXPECT_TRUE(interface_exists("svmt-none"));
  EXPECT_TRUE(interface_exists("lo"));
  EXPECT_FALSE(delete_link_group(group));  // nothing left: success, idempotent
  EXPECT_FALSE(delete_tap("svmt-g0"));     // the per-TAP undo that follows finds nothing
  EXPECT_THROW(delete_link_group(0), Error);
  EXPECT_TRUE(delete_tap("svmt-other"));
  EXPECT_TRUE(delete_tap("svmt-none"));
}

// A bridged NIC (networks.yaml type bridged): the TAP joins the site's Linux bridge with its
// VLANs; the bridge's default VLAN leaves the port; the TAP leaves the bridge on undo.
TEST(NetsetupBridge, TapJoinsTheHostBridgeWithItsVlansAndLeaves) {
  SKIP_UNLESS_ROOT();
  TestNetns ns;
  // Kernels without CONFIG_BRIDGE_VLAN_FILTERING (this CI's) refuse vlan_filtering: there the
  // VLAN half checks that a VLAN request fails with the kernel's reason instead.
  const bool vlan_filtering =
      run_argv({"/usr/sbin/ip", "netns", "exec", ns.name(), "/usr/sbin/ip", "link", "add", "svmtbr", "type", "bridge",
                "vlan_filtering", "1"})
          .exit_code == 0;
  if (!vlan_filtering) ns.exec({"/usr/sbin/ip", "link", "add", "svmtbr", "type", "bridge"});
  ns.exec({"/usr/sbin/ip", "link", "add", "svmtveth0", "type", "veth", "peer", "name", "svmtveth1"});
  const std::string tap = "svmt-btap";
  const std::vector<slurmvm::config::Vlan> vlans = {{12, slurmvm::config::VlanMode::native},
                                                    {20, slurmvm::config::VlanMode::tagged}};
  {
    EnterNetns in(ns.name());
    create_tap({tap, 65534, 1500, false});
    EXPECT_NO_THROW(check_host_bridge("svmtbr"));
    // What the kernel says of VLAN filtering, through rtnetlink; a veth is no bridge.
    EXPECT_EQ(bridge_vlan_filtering("svmtbr"), std::optional<bool>(vlan_filtering));
    EXPECT_EQ(bridge_vlan_filtering("svmtveth0"), std::nullopt);
    if (vlan_filtering) {
      EXPECT_NO_THROW(check_host_bridge("svmtbr", true));
    } else {
      // A network with vlans: on a bridge that does not filter them is refused before any TAP
      // joins it (issue 11: the guest could send frames tagged for any VLAN).
      try {
        check_host_bridge("svmtbr", true);
        ADD_FAILURE() << "vlans: accepted on a bridge without VLAN filtering";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("host bridge svmtbr does not filter VLANs"), std::string::npos)
            << e.what();
      }
    }
    EXPECT_THROW(check_host_bridge("svmtveth0", true), Error);
    try {
      check_host_bridge("svmt-nobr");
      ADD_FAILURE() << "a missing bridge passed";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "host bridge svmt-nobr does not exist on this node (networks.yaml host-bridge)");
    }
    try {
      attach_to_bridge(tap, "svmtveth0", {});
      ADD_FAILURE() << "a veth took a port";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("svmtveth0 is not a Linux bridge"), std::string::npos) << e.what();
    }
    if (vlan_filtering) {
      attach_to_bridge(tap, "svmtbr", vlans);
    } else {
      try {
        attach_to_bridge(tap, "svmtbr", vlans);
        ADD_FAILURE() << "VLANs accepted by a kernel without VLAN filtering";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("putting svmt-btap on bridge svmtbr: adding VLAN 12"), std::string::npos)
            << e.what();
      }
      attach_to_bridge(tap, "svmtbr", {});
    }
  }
  EXPECT_NE(ns.exec({"/usr/sbin/ip", "-o", "link", "show", tap}).find("master svmtbr"), std::string::npos);
  if (vlan_filtering) {
    const std::string shown = ns.exec({"/usr/sbin/bridge", "-j", "vlan", "show", "dev", tap});
    // [{"ifname":"svmt-btap","vlans":[{"vlan":12,"flags":["PVID","Egress Untagged"]},{"vlan":20}]}]
    EXPECT_NE(shown.find(R"({"vlan":12,"flags":["PVID","Egress Untagged"]})"), std::string::npos) << shown;
    EXPECT_NE(shown.find(R"({"vlan":20})"), std::string::npos) << shown;
    EXPECT_EQ(shown.find(R"("vlan":1,)"), std::string::npos) << "default VLAN 1 still on the port: " << shown;
    EXPECT_EQ(shown.find(R"("vlan":1})"), std::string::npos) << "default VLAN 1 still on the port: " << shown;
  } else {
    std::cout << "note: this kernel has no bridge VLAN filtering; VLAN entries not checked\n";
  }
  {
    EnterNetns in(ns.name());
    EXPECT_TRUE(detach_from_bridge(tap));
    EXPECT_TRUE(delete_tap(tap));
    EXPECT_FALSE(detach_from_bridge(tap));  // gone: an undo succeeds
  }
  EXPECT_EQ(ns.exec({"/usr/sbin/ip", "-o", "link", "show", "master", "svmtbr"}), "");
}

TEST(NetsetupTap, RefusesBadNamesAndNonTapDevices) {
  SKIP_UNLESS_ROOT();
  for (const char* bad : {"", "this-name-is-too-long", "-x", "a b", "a/b", "..", "tap;rm"}) {
    EXPECT_THROW(validate_ifname(bad), Error) << bad;
  }
  EXPECT_NO_THROW(validate_ifname("svm4294967-40"));
  TestNetns ns;
  EnterNetns in(ns.name());
  EXPECT_THROW(delete_tap("lo"), Error);  // exists, is not a TAP: never deleted
  EXPECT_TRUE(interface_exists("lo"));
}

// ---------------------------------------------------------------------------------------
// OVSDB and OpenFlow, with a private OVS

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

  const OfctlTarget target{ovs_->mgmt("br-int")};
  apply_flows(target, node_base_flows());
  JobNetwork a{42, 7, "svmt-gre",
               {{"svmt-a0", {0x52, 0x54, 0, 0, 0x70, 0}, 0x0a807002, false},
                {"svmt-a1", {0x52, 0x54, 0, 0, 0x70, 1}, 0x0a807003, false}},
               {{{0x52, 0x54, 0, 0, 0x70, 2}, 0x0a807004, 0x0ac80002}}};
  JobNetwork b{43, 8, "svmt-gre", {{"svmt-b0", {0x52, 0x54, 0, 0, 0x80, 0}, 0x0a808002, false}}, {}};
  apply_flows(target, job_flows(a));
  apply_flows(target, job_flows(b));
  apply_flows(target, job_flows(a));  // re-applying replaces, never duplicates

  auto dump = [&](std::uint32_t job) {
    return checked({"/usr/bin/ovs-ofctl", "dump-flows", target.target,
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
  const std::string all = checked({"/usr/bin/ovs-ofctl", "dump-flows", target.target});
  EXPECT_EQ(count_lines(all, "priority=0 actions=drop"), 3u) << all;  // base flows stay

  // A bad bundle changes nothing: job 43 stays as it was.
  JobNetwork broken = b;
  broken.local[0].port = "svmt-nope";  // no such port: ovs-ofctl rejects the bundle
  EXPECT_THROW(apply_flows(target, job_flows(broken)), Error);
  EXPECT_EQ(count_lines(dump(43), "cookie=0x535600000000002b"), expected_b);

  vs_->remove_ports("br-int", taps);
  EnterNetns in(ns_->name());
  for (const auto& t : taps) EXPECT_TRUE(delete_tap(t));
}
