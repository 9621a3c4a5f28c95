// The job's dnsmasq in namespaces of its own (dnsmasq_jail.hpp).
#include "netsetup/dnsmasq_jail.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <exception>
#include <thread>

#include <fmt/format.h>

#include "deadline.hpp"
#include "error.hpp"
#include "log.hpp"
#include "netsetup/jail_child.hpp"
#include "netsetup/nat.hpp"
#include "netsetup/netns_link.hpp"
#include "netsetup/node_job.hpp"
#include "netsetup/tap.hpp"
#include "unique_fd.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace slurmvm::netsetup {
namespace {

using jail::ChildFailure;
using jail::JailPipes;
using jail::child_error;
using jail::clone_jail;

struct OutsideIds {
  uid_t uid = 0;
  gid_t gid = 0;
};

// The node's `nobody` and its primary group: what the jail's root is outside.
OutsideIds nobody_ids() {
  passwd pw{};
  passwd* found = nullptr;
  std::string buf(16384, '\0');
  const int rc = ::getpwnam_r("nobody", &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr || pw.pw_uid == 0 || pw.pw_gid == 0) {
    throw Error("the node has no unprivileged user `nobody` for the job's dnsmasq to run as", ErrorKind::config,
                rc);
  }
  return {pw.pw_uid, pw.pw_gid};
}

std::pair<UniqueFd, UniqueFd> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error::from_errno("pipe2", errno);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::optional<unsigned long long> start_time_of(pid_t pid) {
  try {
    return parse_proc_start_time(read_small_file(fmt::format("/proc/{}/stat", pid)));
  } catch (const Error&) {
    return std::nullopt;  // it ended
  }
}

void write_proc_file(pid_t pid, const char* name, const std::string& text) {
  const std::string path = fmt::format("/proc/{}/{}", pid, name);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    throw Error::from_errno("writing " + path, errno);
  }
}

// Inside the jail's namespace: address and link up, no transmit checksum offload (what
// dnsmasq sends would reach the VMs with checksums nobody filled in), the default route.
void configure_inside(const DnsmasqJail& jail) {
  set_interface_ipv4(kDnsmasqInterface, jail.ip, jail.prefix);
  disable_tx_checksum(kDnsmasqInterface);
  add_default_route(kDnsmasqInterface, jail.gateway);
}

std::string log_tail(const fs::path& log_file) {
  std::string text;
  try {
    text = read_small_file(log_file);
  } catch (const Error&) {
    return {};
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.size() > 600) text = "..." + text.substr(text.size() - 600);
  return text.empty() ? std::string{} : ": " + text;
}

bool listening(pid_t pid) {
  std::string udp;
  try {
    udp = read_small_file(fmt::format("/proc/{}/net/udp", pid));
  } catch (const Error&) {
    return false;
  }
  const auto ports = parse_listening_ports(udp, kUdpBound);
  return ports.count(67) && ports.count(53);
}

// Kills and reaps the jail's process unless released: a failed start leaves no process behind.
// (The prolog's own unreaped child: its pid names it until the waitpid.)
class JailGuard {
 public:
  explicit JailGuard(pid_t pid) : pid_(pid) {}
  JailGuard(const JailGuard&) = delete;
  JailGuard& operator=(const JailGuard&) = delete;
  ~JailGuard() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  void release() { pid_ = -1; }

 private:
  pid_t pid_;
};

}  // namespace

std::optional<unsigned long long> parse_proc_start_time(std::string_view stat) {
  const auto close = stat.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = stat.substr(close + 1);
  // Fields after the command: state is field 3, start time field 22.
  for (int field = 3; field <= 22; ++field) {
    const auto b = rest.find_first_not_of(' ');
    if (b == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(b);
    const auto e = std::min(rest.find(' '), rest.size());
    if (field == 22) {
      unsigned long long v = 0;
      const auto tok = rest.substr(0, e);
      const auto [ptr, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
      if (ec != std::errc{} || ptr != tok.data() + tok.size()) return std::nullopt;
      return v;
    }
    rest.remove_prefix(e);
  }
  return std::nullopt;
}

void start_jailed_dnsmasq(const DnsmasqConfig& cfg, const DnsmasqJail& jail, std::chrono::milliseconds timeout) {
  validate_ifname(jail.port);
  if (!jail.pid_file.is_absolute() || !jail.log_file.is_absolute()) {
    throw Error("dnsmasq jail: pid and log files must be absolute paths", ErrorKind::internal);
  }
  const auto deadline = Clock::now() + timeout;
  const OutsideIds ids = nobody_ids();
  std::vector<std::string> args = dnsmasq_argv(cfg);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string path = kChildPath;
  char* envp[] = {path.data(), nullptr};

  UniqueFd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd) throw Error::from_errno("opening /dev/null", errno);
  UniqueFd log_fd(::open(jail.log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!log_fd) throw Error::from_errno("opening " + jail.log_file.string(), errno);
  // Named variables, not structured bindings: lambdas below use them, which clang before 16
  // does not allow for bindings (P1091).
  auto go_pipe = make_pipe();
  auto err_pipe = make_pipe();
  UniqueFd& go_r = go_pipe.first;
  UniqueFd& go_w = go_pipe.second;
  UniqueFd& err_r = err_pipe.first;
  UniqueFd& err_w = err_pipe.second;
  const JailPipes pipes{go_r.get(), go_w.get(), err_r.get(), err_w.get()};

  const pid_t child = clone_jail(pipes, null_fd.get(), log_fd.get(), argv.data(), envp);
  JailGuard guard(child);
  go_r.reset();
  err_w.reset();

  // What went wrong when a pipe ended early: the child's own report, or its log.
  const auto child_failure = [&](const std::string& when) {
    ChildFailure f;
    if (wait_fd(err_r.get(), POLLIN, Clock::now()) &&
        ::read(err_r.get(), &f, sizeof f) == static_cast<ssize_t>(sizeof f)) {
      return child_error(f, cfg.program);
    }
    return Error(fmt::format("dnsmasq jail: ended {}{}", when, log_tail(jail.log_file)), ErrorKind::system);
  };
  with_context(fmt::format("starting the job's dnsmasq behind {}", jail.port), [&] {
    // Its root is nobody outside; the map is written by root (CAP_SETUID here), so setgroups
    // stays allowed for the child to drop the prolog's supplementary groups.
    write_proc_file(child, "uid_map", fmt::format("0 {} 1\n", ids.uid));
    write_proc_file(child, "gid_map", fmt::format("0 {} 1\n", ids.gid));
    UniqueFd netns(::open(fmt::format("/proc/{}/ns/net", child).c_str(), O_RDONLY | O_CLOEXEC));
    if (!netns) throw Error::from_errno("opening the jail's network namespace", errno);
    create_veth({jail.port, kDnsmasqInterface, jail.mac, jail.mtu, jail.link_group}, netns.get());
    keep_host_stack_off(jail.port);
    set_mtu_and_up(jail.port, jail.mtu);
    in_netns(netns.get(), [&] { configure_inside(jail); });

    // Recorded before dnsmasq runs: the ledger's undo finds it even if this process dies from
    // here on (until the go-ahead the child waits, and exits on EOF).
    const auto started = start_time_of(child);
    if (!started) throw child_failure("at once");
    write_file_atomic(jail.pid_file, fmt::format("{} {}\n", child, *started), 0600);
    // (Writes to a pipe whose reader died fail with EPIPE: the prolog ignores SIGPIPE.)
    if (::write(go_w.get(), "g", 1) != 1) throw child_failure("before its go-ahead");
    go_w.reset();
    // EOF: the child closed its end by exec'ing.
    if (!wait_fd(err_r.get(), POLLIN, deadline)) throw Error("dnsmasq jail: no exec within the deadline", ErrorKind::timeout);
    ChildFailure f;
    if (::read(err_r.get(), &f, sizeof f) == static_cast<ssize_t>(sizeof f)) throw child_error(f, cfg.program);
    // Exec'd. Whether it serves is await_jailed_dnsmasq's question; from here on the ledger's
    // entry stops it (the pid file names it). The prolog does not reap it: once the prolog
    // exits it is reparented, like any daemon.
    guard.release();
  });
}

void await_jailed_dnsmasq(const fs::path& pid_file, const fs::path& log_file, std::chrono::milliseconds timeout) {
  with_context("waiting for the job's dnsmasq to serve", [&] {
    const auto deadline = Clock::now() + timeout;
    pid_t pid = 0;
    unsigned long long started = 0;
    if (std::sscanf(read_small_file(pid_file).c_str(), "%d %llu", &pid, &started) != 2 || pid <= 1) {
      throw Error(fmt::format("{} does not hold \"<pid> <start time>\"", pid_file.string()), ErrorKind::internal);
    }
    // Through a pidfd opened before the start time is checked: the process checked is the one
    // watched, never a recycled pid.
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd || start_time_of(pid) != started) {
      throw Error(fmt::format("dnsmasq exited at once{}", log_tail(log_file)), ErrorKind::system);
    }
    // dnsmasq is serving once it has bound the DHCP and DNS ports in its namespace.
    PollBackoff backoff(deadline);
    for (;;) {
      if (wait_fd(pidfd.get(), POLLIN, Clock::now())) {  // a pidfd is readable once its process ended
        throw Error(fmt::format("dnsmasq exited at once{}", log_tail(log_file)), ErrorKind::system);
      }
      if (listening(pid)) return;
      if (!backoff.pause()) {
        throw Error(fmt::format("dnsmasq did not listen on the DHCP and DNS ports within {} ms{}", timeout.count(),
                                log_tail(log_file)),
                    ErrorKind::timeout);
      }
    }
  });
}

void stop_jailed_dnsmasq(const fs::path& pid_file, const fs::path& log_file, std::chrono::milliseconds grace) {
  std::string text;
  try {
    text = read_small_file(pid_file);
  } catch (const Error& e) {
    if (e.errnum() != ENOENT) throw;
  }
  pid_t pid = 0;
  unsigned long long started = 0;
  if (std::sscanf(text.c_str(), "%d %llu", &pid, &started) == 2 && pid > 1) {
    // The same process only: a pidfd opened before checking the start time names the process
    // that was checked. Gone (ESRCH, another start time) is success; anything else keeps the pid
    // file for the next attempt.
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd && errno != ESRCH) throw Error::from_errno(fmt::format("pidfd_open of dnsmasq {}", pid), errno);
    if (pidfd && start_time_of(pid) == started) {
      const auto ended = [&](int ms) {
        pollfd p{pidfd.get(), POLLIN, 0};
        for (;;) {
          const int n = ::poll(&p, 1, ms);
          if (n >= 0) return n > 0;
          if (errno != EINTR) throw Error::from_errno("poll", errno);
        }
      };
      if (::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGTERM, nullptr, 0) == 0 &&
          !ended(static_cast<int>(grace.count()))) {
        log_warning("dnsmasq {} did not stop within {} ms of SIGTERM: killing it", pid, grace.count());
        ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
        if (!ended(2000)) throw Error(fmt::format("dnsmasq {} survived SIGKILL for 2 s", pid), ErrorKind::timeout);
      }
    }
  }
  for (const auto& f : {pid_file, log_file}) {
    if (::unlink(f.c_str()) != 0 && errno != ENOENT) throw Error::from_errno("removing " + f.string(), errno);
  }
}

}  // namespace slurmvm::netsetup
