// The dnsmasq jail's two processes (jail_child.hpp).
#include "netsetup/jail_child.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

namespace slurmvm::netsetup::jail {
namespace {

// What dnsmasq may write to its log (RLIMIT_FSIZE): its start-up errors, not a full /run.
constexpr rlim_t kLogLimit = 1 << 20;

enum ChildStage : int { kUnshare = 1, kIds = 2, kExec = 3, kFork = 4 };

// Between fork and exec: async-signal-safe calls only (the prolog may have other threads, e.g.
// a name lookup that outlived its deadline).
[[noreturn]] void child_fail(int err_w, int stage) {
  const ChildFailure f{stage, errno};
  [[maybe_unused]] const auto n = ::write(err_w, &f, sizeof f);
  ::_exit(127);
}

// Everything but stdio is closed on exec: close_range where the kernel has it (5.11), else
// FD_CLOEXEC one by one.
void cloexec_from_3() {
  if (::syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) == 0) return;
  for (int fd = 3; fd < 65536; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

[[noreturn]] void init_main(const JailPipes& p, char* const* argv, char* const* envp) {
  ::close(p.ready_w);
  ::close(p.go_r);
  char go = 0;
  // EOF: the prolog died before recording this process; never run untracked.
  if (::read(p.go2_r, &go, 1) != 1 || go != 'g') ::_exit(126);
  cloexec_from_3();
  ::execve(argv[0], argv, envp);
  child_fail(p.err_w, kExec);
}

}  // namespace

Error child_error(const ChildFailure& f, const std::string& program) {
  switch (f.stage) {
    case kUnshare:
      return Error::from_errno(
          fmt::format("dnsmasq jail: unshare(CLONE_NEWUSER|CLONE_NEWNET|CLONE_NEWPID|CLONE_NEWIPC) failed{}",
                      f.err == ENOSPC || f.err == EPERM || f.err == EUSERS
                          ? " (are user namespaces disabled? the job's dnsmasq needs one: set user.max_user_namespaces "
                            "above 0 on VM nodes)"
                          : ""),
          f.err);
    case kIds: return Error::from_errno("dnsmasq jail: becoming the jail's root failed", f.err);
    case kFork: return Error::from_errno("dnsmasq jail: starting the jail's first process failed", f.err);
    default: return Error::from_errno("dnsmasq jail: exec " + program + " failed", f.err);
  }
}


[[noreturn]] void jailer_main(const JailPipes& p, int null_fd, int log_fd, char* const* argv, char* const* envp) {
  ::close(p.ready_r);
  ::close(p.go_w);
  ::close(p.go2_w);
  ::close(p.err_r);
  ::setsid();
  // A PID namespace too: dnsmasq, the jail's root, shares the uid `nobody` with every other
  // jail and nobody process of the node, and signals and resource limits go by uid; in its own
  // PID namespace it can address no process but its own, and when it dies all it started dies.
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC) != 0) child_fail(p.err_w, kUnshare);
  const char byte = 'r';
  if (::write(p.ready_w, &byte, 1) != 1) ::_exit(126);
  char go = 0;
  // EOF: the prolog gave up or died; never run unconfigured.
  if (::read(p.go_r, &go, 1) != 1 || go != 'g') ::_exit(126);
  if (::setgroups(0, nullptr) != 0 || ::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0) {
    child_fail(p.err_w, kIds);
  }
  if (::dup2(null_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0) child_fail(p.err_w, kExec);
  // Ignored signals and the signal mask survive exec: whatever slurmd left the prolog with,
  // dnsmasq must die on the epilog's SIGTERM (and reload on SIGHUP, as its manual says).
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (const int sig : {SIGTERM, SIGHUP, SIGINT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2}) ::signal(sig, SIG_DFL);
  // The log is on the node's /run: what dnsmasq writes there stays small.
  const rlimit fsize{kLogLimit, kLogLimit};
  ::setrlimit(RLIMIT_FSIZE, &fsize);
  const pid_t init = ::fork();
  if (init < 0) child_fail(p.err_w, kFork);
  if (init == 0) init_main(p, argv, envp);
  ::close(p.go2_r);
  [[maybe_unused]] const auto n = ::write(p.ready_w, &init, sizeof init);
  ::_exit(0);
}


}  // namespace slurmvm::netsetup::jail
