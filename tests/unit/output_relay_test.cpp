// OutputRelay against a real child: everything reaches the log; the terminal gets output only
// until mute().
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "error.hpp"
#include "output_relay.hpp"
#include "subprocess.hpp"

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class OutputRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/slurm-vm-relay-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(OutputRelayTest, CopiesToLogAndTerminalUntilMuted) {
  const auto terminal = dir_ / "terminal";
  const int term_fd = ::open(terminal.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(term_fd, 0);
  {
    slurmvm::OutputRelay relay(dir_ / "step.log", term_fd);
    relay.start();
    slurmvm::Command c;
    // "stopping" comes half a second later: long after the test has muted the relay.
    c.argv = {"/bin/sh", "-c", "echo booting; echo oops >&2; sleep 0.5; echo stopping"};
    c.output_fd = relay.write_fd();
    auto child = slurmvm::spawn(c);
    relay.close_write_end();
    // Wait for the first lines to be copied before muting.
    for (int i = 0; i < 200 && slurp(terminal).find("oops") == std::string::npos; ++i) {
      ::usleep(10000);
    }
    relay.mute();
    ASSERT_TRUE(child.wait_for(std::chrono::seconds(10)));
    EXPECT_TRUE(relay.drain(std::chrono::seconds(5)));
  }
  ::close(term_fd);
  EXPECT_EQ(slurp(terminal), "booting\noops\n");
  EXPECT_EQ(slurp(dir_ / "step.log"), "booting\noops\nstopping\n");
}

TEST_F(OutputRelayTest, DestructorDoesNotWaitForAGrandchildHoldingThePipe) {
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = -1;
  {
    slurmvm::OutputRelay relay(dir_ / "step.log", STDERR_FILENO);
    relay.start();
    slurmvm::Command c;
    c.argv = {"/bin/sleep", "30"};
    c.output_fd = relay.write_fd();
    auto child = slurmvm::spawn(c);
    pid = child.pid();
    relay.close_write_end();
    EXPECT_FALSE(relay.drain(std::chrono::milliseconds(50)));
    // child's destructor kills it first (declared after relay); the relay then sees EOF.
  }
  EXPECT_GT(pid, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(OutputRelayTest, RefusesASymlinkAsLog) {
  std::filesystem::create_symlink("/dev/null", dir_ / "step.log");
  EXPECT_THROW(slurmvm::OutputRelay(dir_ / "step.log", STDERR_FILENO), slurmvm::Error);
}

}  // namespace
