// The dnsmasq jail's one process (jail_child.hpp).
#include "netsetup/jail_child.hpp"

#include <fcntl.h>
#include <linux/sched.h>
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

enum ChildStage : int { kIds = 2, kExec = 3 };

// Between clone and exec: system calls only, raw or through libc's thin, lock-free wrappers
// (read, write, dup2, setsid, sigaction, prlimit, execve); no allocation, no lock. The child of
// a raw clone3 has a copy of the prolog's memory without glibc's fork bookkeeping (the prolog
// may have other threads, e.g. a name lookup that outlived its deadline): glibc's setgroups and
// setres[ug]id would try to change the ids of those threads too, which do not exist here, so
// the ids go through syscall(2).
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

[[noreturn]] void jail_main(const JailPipes& p, int null_fd, int log_fd, char* const* argv, char* const* envp) {
  ::close(p.go_w);
  ::close(p.err_r);
  ::setsid();
  char go = 0;
  // EOF: the prolog gave up or died before configuring the jail and recording this process:
  // never run unconfigured or untracked.
  if (::read(p.go_r, &go, 1) != 1 || go != 'g') ::_exit(126);
  // The jail's root (nobody outside: the prolog wrote the maps), without the prolog's
  // supplementary groups.
  if (::syscall(SYS_setgroups, 0, nullptr) != 0 || ::syscall(SYS_setresgid, 0, 0, 0) != 0 ||
      ::syscall(SYS_setresuid, 0, 0, 0) != 0) {
    child_fail(p.err_w, kIds);
  }
  if (::dup2(null_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0) child_fail(p.err_w, kExec);
  // Ignored signals and the signal mask survive exec: whatever slurmd left the prolog with,
  // dnsmasq must die on the epilog's SIGTERM (and reload on SIGHUP, as its manual says).
  sigset_t none;
  ::sigemptyset(&none);
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, _NSIG / 8);
  for (const int sig : {SIGTERM, SIGHUP, SIGINT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2}) ::signal(sig, SIG_DFL);
  // The log is on the node's /run: what dnsmasq writes there stays small.
  const rlimit fsize{kLogLimit, kLogLimit};
  ::setrlimit(RLIMIT_FSIZE, &fsize);
  cloexec_from_3();
  ::execve(argv[0], argv, envp);
  child_fail(p.err_w, kExec);
}

}  // namespace

Error child_error(const ChildFailure& f, const std::string& program) {
  switch (f.stage) {
    case kIds: return Error::from_errno("dnsmasq jail: becoming the jail's root failed", f.err);
    default: return Error::from_errno("dnsmasq jail: exec " + program + " failed", f.err);
  }
}

pid_t clone_jail(const JailPipes& p, int null_fd, int log_fd, char* const* argv, char* const* envp) {
  // A PID namespace too: dnsmasq, the jail's root, shares the uid `nobody` with every other
  // jail and nobody process of the node, and signals and resource limits go by uid; in its own
  // PID namespace (pid 1 there) it can address no process but its own, and when it dies all it
  // started dies. Cloned straight into it: one process, where unshare(2) needed a second.
  clone_args args{};
  args.flags = CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC;
  args.exit_signal = SIGCHLD;
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  // Container runtimes' seccomp profiles may refuse clone3 with ENOSYS (its arguments are out of
  // a filter's reach); clone(2) takes the same flags (no stack: it returns in both, as fork).
  if (pid < 0 && errno == ENOSYS) pid = ::syscall(SYS_clone, static_cast<unsigned long>(args.flags) | SIGCHLD, nullptr, nullptr, nullptr, 0UL);
  if (pid == 0) jail_main(p, null_fd, log_fd, argv, envp);
  if (pid < 0) {
    const int err = errno;
    throw Error::from_errno(
        fmt::format("dnsmasq jail: clone3(CLONE_NEWUSER|CLONE_NEWNET|CLONE_NEWPID|CLONE_NEWIPC) failed{}",
                    err == ENOSPC || err == EPERM || err == EUSERS
                        ? " (are user namespaces disabled? the job's dnsmasq needs one: set user.max_user_namespaces "
                          "above 0 on VM nodes)"
                        : ""),
        err);
  }
  return static_cast<pid_t>(pid);
}

}  // namespace slurmvm::netsetup::jail
