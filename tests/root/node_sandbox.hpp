// What the root GoogleTest tests share: a throw-away network namespace "svmt-<pid>-<n>"
// (TestNetns, EnterNetns), a private ovsdb-server and ovs-vswitchd inside it (PrivateOvs:
// userspace netdev datapath, private sockets and pidfiles under a temp dir), and small helpers.
// Everything started is stopped by pid and everything created is deleted, on every path (RAII).
#pragma once

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

namespace slurmvm::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace slurmvm::netsetup;

inline slurmvm::RunResult run_argv(std::vector<std::string> argv, std::vector<std::string> env = {}) {
  Command c;
  c.argv = std::move(argv);
  c.env_set = std::move(env);
  c.timeout = 20s;
  return slurmvm::run(c);
}

inline std::string checked(std::vector<std::string> argv) {
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

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

inline bool have(const char* path) { return ::access(path, X_OK) == 0; }

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

inline bool process_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

}  // namespace slurmvm::test
