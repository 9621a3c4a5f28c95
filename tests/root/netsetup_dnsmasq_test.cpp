// The job's jailed dnsmasq against the real kernel, inside a throw-away network namespace
// (node_sandbox.hpp): the start returns once the program is exec'd, and the wait that the prolog
// does last (step 19c) reports a dnsmasq that serves, one that exited at once, and one that never
// binds its ports. Skipped without root.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "netsetup/dnsmasq_jail.hpp"
#include "netsetup/netns_link.hpp"
#include "node_sandbox.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace slurmvm::netsetup;
using namespace slurmvm::test;
using slurmvm::Error;
using slurmvm::ErrorKind;
using slurmvm::MacAddress;

namespace {

// A private directory for the pid and log files (root's, as the prolog's), removed at the end.
class PrivateDir {
 public:
  PrivateDir() {
    std::string tmpl = (fs::temp_directory_path() / "svmt-dns-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw Error::from_errno("mkdtemp", errno);
    path_ = tmpl;
    // The jail's programs run as nobody: a script of ours must be readable and executable.
    fs::permissions(path_, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  }
  ~PrivateDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

DnsmasqConfig job_config(const std::string& program) {
  DnsmasqConfig cfg;
  cfg.program = program;
  cfg.server_ip = 0x0afb5bfe;   // 10.251.91.254
  cfg.gateway_ip = 0x0afb5801;  // 10.251.88.1
  cfg.subnet = {0x0afb5800, 22};
  cfg.mtu = 1450;
  cfg.hosts = {{"vm0", 0x0afb5802, MacAddress{0x52, 0x54, 0x00, 0x01, 0x00, 0x02}}};
  return cfg;
}

DnsmasqJail job_jail(const PrivateDir& dir) {
  return {"svmdhtest", MacAddress{0x52, 0x54, 0x00, 0x01, 0x6f, 0xfe}, 0x0afb5bfe, 22, 0x0afb5801, 1450, 0,
          dir.path() / "1.pid", dir.path() / "1.log"};
}

}  // namespace

TEST(NetsetupDnsmasq, TheStartReturnsAtExecAndTheWaitSeesItServe) {
  SKIP_UNLESS_ROOT();
  if (!have("/usr/sbin/dnsmasq")) GTEST_SKIP() << "no /usr/sbin/dnsmasq";
  TestNetns ns;
  PrivateDir dir;
  EnterNetns in(ns.name());
  const auto jail = job_jail(dir);
  start_jailed_dnsmasq(job_config("/usr/sbin/dnsmasq"), jail, 10s);
  EXPECT_NO_THROW(await_jailed_dnsmasq(jail.pid_file, jail.log_file, 10s));
  EXPECT_NO_THROW(await_jailed_dnsmasq(jail.pid_file, jail.log_file, 10s)) << "a second wait: still serving";
  stop_jailed_dnsmasq(jail.pid_file, jail.log_file);
  EXPECT_FALSE(fs::exists(jail.pid_file));
  delete_link(jail.port);  // gone already, or now: either is success
  EXPECT_FALSE(interface_exists(jail.port));
}

TEST(NetsetupDnsmasq, AProgramThatExitsAtOnceFailsTheWaitWithItsLog) {
  SKIP_UNLESS_ROOT();
  TestNetns ns;
  PrivateDir dir;
  const fs::path script = dir.path() / "refuses";
  std::ofstream(script) << "#!/bin/sh\necho 'dnsmasq: bad option (test)' >&2\nexit 1\n";
  fs::permissions(script, fs::perms::owner_all | fs::perms::others_read | fs::perms::others_exec);
  EnterNetns in(ns.name());
  const auto jail = job_jail(dir);
  start_jailed_dnsmasq(job_config(script.string()), jail, 10s);
  try {
    await_jailed_dnsmasq(jail.pid_file, jail.log_file, 10s);
    FAIL() << "the wait succeeded for a program that exited";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("dnsmasq exited at once"), std::string::npos) << what;
    EXPECT_NE(what.find("bad option (test)"), std::string::npos) << what;
  }
  stop_jailed_dnsmasq(jail.pid_file, jail.log_file);
  delete_link(jail.port);
}

TEST(NetsetupDnsmasq, AProgramThatNeverBindsItsPortsTimesOut) {
  SKIP_UNLESS_ROOT();
  TestNetns ns;
  PrivateDir dir;
  const fs::path script = dir.path() / "silent";
  // The jail's first process is pid 1 of its namespace: SIGTERM reaches it only with a handler.
  std::ofstream(script) << "#!/bin/sh\ntrap 'exit 0' TERM\nwhile :; do /bin/sleep 0.05; done\n";
  fs::permissions(script, fs::perms::owner_all | fs::perms::others_read | fs::perms::others_exec);
  EnterNetns in(ns.name());
  const auto jail = job_jail(dir);
  start_jailed_dnsmasq(job_config(script.string()), jail, 10s);
  const auto start = std::chrono::steady_clock::now();
  try {
    await_jailed_dnsmasq(jail.pid_file, jail.log_file, 300ms);
    FAIL() << "the wait succeeded for a program that never listens";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::timeout);
    EXPECT_NE(std::string(e.what()).find("did not listen on the DHCP and DNS ports within 300 ms"), std::string::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  // The undo stops it by its pid file (a zombie until the reaper of its parent collects it).
  const std::string pid = slurp(jail.pid_file).substr(0, slurp(jail.pid_file).find(' '));
  stop_jailed_dnsmasq(jail.pid_file, jail.log_file);
  const std::string status = "/proc/" + pid + "/status";
  EXPECT_TRUE(!fs::exists(status) || slurp(status).find("State:\tZ") != std::string::npos) << "still running";
  delete_link(jail.port);
}
