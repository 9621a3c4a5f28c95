// QEMU (vm-launch, before its exec) ends with the task's parent (parent_death.hpp): real
// processes, no root. This process becomes a child subreaper, so that the orphaned grandchild
// comes back to it to be reaped and its end status read.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <thread>

#include "error.hpp"
#include "launch/parent_death.hpp"

using slurmvm::launch::end_with_parent;

namespace {

// waitpid with a deadline: the status, or -1 when PID did not end within 5 s.
int wait_with_deadline(pid_t pid) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int status = 0;
  while (std::chrono::steady_clock::now() < end) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

struct Subreaper {
  Subreaper() { EXPECT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL), 0); }
  ~Subreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 0UL, 0UL, 0UL, 0UL); }
};

}  // namespace

// The middle process stands for slurmstepd, the grandchild for vm-launch/QEMU.
TEST(LaunchParentDeath, TheVmEndsWhenItsParentIsKilled) {
  Subreaper reaper;
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  const pid_t middle = ::fork();
  ASSERT_GE(middle, 0);
  if (middle == 0) {
    const pid_t parent = ::getpid();
    if (::fork() == 0) {
      try {
        end_with_parent(SIGTERM, parent);
      } catch (...) {
        ::_exit(3);
      }
      const pid_t self = ::getpid();
      if (::write(p[1], &self, sizeof self) != sizeof self) ::_exit(4);
      ::pause();
      ::_exit(0);
    }
    ::pause();
    ::_exit(0);
  }
  ::close(p[1]);
  pid_t vm = 0;
  pollfd pfd{.fd = p[0], .events = POLLIN, .revents = 0};
  ASSERT_EQ(::poll(&pfd, 1, 5000), 1) << "the grandchild never armed its parent-death signal";
  ASSERT_EQ(::read(p[0], &vm, sizeof vm), static_cast<ssize_t>(sizeof vm));
  ::close(p[0]);

  ASSERT_EQ(::kill(middle, SIGKILL), 0);
  const int middle_status = wait_with_deadline(middle);
  ASSERT_TRUE(WIFSIGNALED(middle_status));
  const int vm_status = wait_with_deadline(vm);
  ASSERT_NE(vm_status, -1) << "the VM process outlived its parent";
  ASSERT_TRUE(WIFSIGNALED(vm_status));
  EXPECT_EQ(WTERMSIG(vm_status), SIGTERM);
}

// A parent that ended before the prctl would send nothing: refused, not silently unarmed.
TEST(LaunchParentDeath, AParentAlreadyGoneIsAnError) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      end_with_parent(SIGTERM, ::getppid() + 100000);
    } catch (const slurmvm::Error& e) {
      ::_exit(e.kind() == slurmvm::ErrorKind::system ? 0 : 2);
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(1);
  }
  const int status = wait_with_deadline(child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}
