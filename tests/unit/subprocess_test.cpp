// The subprocess wrapper, against real programs from coreutils: argv passing, environment
// allow-list, closed fds, stdin, capture and the deadline.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "error.hpp"
#include "subprocess.hpp"

using slurmvm::Command;
using slurmvm::Error;
using slurmvm::run;

TEST(Subprocess, CapturesOutputAndExitCode) {
  Command c;
  c.argv = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3"};
  auto r = run(c);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_FALSE(r.ok());
}

TEST(Subprocess, ArgvIsNotInterpretedByAShell) {
  Command c;
  c.argv = {"/bin/echo", "$HOME", "; rm -rf /", "`id`"};
  auto r = run(c);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, "$HOME ; rm -rf / `id`\n");
}

TEST(Subprocess, EnvironmentIsAnAllowList) {
  ::setenv("SLURM_VM_TEST_SECRET", "leak", 1);
  ::setenv("SLURM_VM_TEST_OK", "yes", 1);
  Command c;
  c.argv = {"/usr/bin/env"};
  c.env_allow = {"SLURM_VM_TEST_OK"};
  c.env_set = {"PATH=/usr/bin:/bin"};
  auto r = run(c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.out, "SLURM_VM_TEST_OK=yes\nPATH=/usr/bin:/bin\n");
  ::unsetenv("SLURM_VM_TEST_SECRET");
  ::unsetenv("SLURM_VM_TEST_OK");
}

TEST(Subprocess, ExplicitEnvWinsOverAllowed) {
  ::setenv("SLURM_VM_TEST_X", "inherited", 1);
  Command c;
  c.argv = {"/usr/bin/env"};
  c.env_allow = {"SLURM_VM_TEST_X"};
  c.env_set = {"SLURM_VM_TEST_X=explicit"};
  EXPECT_EQ(run(c).out, "SLURM_VM_TEST_X=explicit\n");
  ::unsetenv("SLURM_VM_TEST_X");
}

TEST(Subprocess, FdsAreClosedInTheChild) {
  // An fd opened without O_CLOEXEC must still not reach the child.
  int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 3);
  Command c;
  c.argv = {"/bin/ls", "/proc/self/fd"};
  auto r = run(c);
  ::close(fd);
  ASSERT_TRUE(r.ok());
  // ls itself opens one directory fd: 0, 1, 2 and that one.
  EXPECT_EQ(r.out, "0\n1\n2\n3\n");
}

TEST(Subprocess, StdinIsFedAndClosed) {
  Command c;
  c.argv = {"/bin/cat"};
  c.stdin_data = std::string(200000, 'x');  // larger than a pipe buffer
  auto r = run(c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.out.size(), 200000u);
}

TEST(Subprocess, StdinDefaultsToDevNull) {
  Command c;
  c.argv = {"/bin/cat"};
  auto r = run(c);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, "");
}

TEST(Subprocess, DeadlineKillsTheChild) {
  Command c;
  c.argv = {"/bin/sleep", "30"};
  c.timeout = std::chrono::milliseconds(100);
  c.kill_grace = std::chrono::milliseconds(100);
  const auto start = std::chrono::steady_clock::now();
  auto r = run(c);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(Subprocess, DeadlineEscalatesToSigkill) {
  Command c;
  c.argv = {"/bin/sh", "-c", "trap '' TERM; sleep 30"};
  c.timeout = std::chrono::milliseconds(100);
  c.kill_grace = std::chrono::milliseconds(100);
  auto r = run(c);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
}

TEST(Subprocess, RelativePathRefusedWithoutSearch) {
  Command c;
  c.argv = {"echo", "x"};
  EXPECT_THROW(run(c), Error);
  c.search_path = true;
  EXPECT_TRUE(run(c).ok());
}

TEST(Subprocess, MissingProgramIsAnError) {
  Command c;
  c.argv = {"/nonexistent/program"};
  EXPECT_THROW(run(c), Error);
}

TEST(Subprocess, RunCheckedQuotesTheCommandAndStderr) {
  Command c;
  c.argv = {"/bin/sh", "-c", "echo 'it broke' >&2; exit 4"};
  try {
    slurmvm::run_checked(c);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), slurmvm::ErrorKind::system);
    EXPECT_STREQ(e.what(), "/bin/sh -c 'echo '\\''it broke'\\'' >&2; exit 4' exited with status 4: it broke");
  }
}

TEST(Subprocess, SpawnRunsInTheBackgroundAndStops) {
  Command c;
  c.argv = {"/bin/sleep", "30"};
  auto child = slurmvm::spawn(c);
  EXPECT_TRUE(child.running());
  EXPECT_FALSE(child.poll());
  EXPECT_FALSE(child.wait_for(std::chrono::milliseconds(50)));
  const auto r = child.stop(SIGTERM, std::chrono::seconds(5));
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_FALSE(child.running());
}

TEST(Subprocess, SpawnReportsExitStatus) {
  Command c;
  c.argv = {"/bin/sh", "-c", "exit 9"};
  auto child = slurmvm::spawn(c);
  const auto r = child.wait_for(std::chrono::seconds(10));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 9);
}

TEST(Subprocess, SpawnedChildIsKilledWithItsOwner) {
  pid_t pid = -1;
  {
    Command c;
    c.argv = {"/bin/sleep", "30"};
    auto child = slurmvm::spawn(c);
    pid = child.pid();
  }
  // Reaped by the destructor: the pid no longer names our child.
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
}

TEST(Subprocess, InheritEnvPassesTheCallersEnvironment) {
  ::setenv("SLURM_VM_TEST_INHERIT", "1", 1);
  Command c;
  c.argv = {"/bin/sh", "-c", "echo ${SLURM_VM_TEST_INHERIT:-unset}"};
  EXPECT_EQ(run(c).out, "unset\n");
  c.inherit_env = true;
  EXPECT_EQ(run(c).out, "1\n");
  ::unsetenv("SLURM_VM_TEST_INHERIT");
}
