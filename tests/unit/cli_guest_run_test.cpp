// `vm run`'s guest side (src/cli/guest_run.hpp) where it can run here: the wrapper shell the
// agent starts in each guest, run by /bin/sh on this machine (output files, noclobber against a
// planted file, --cwd, the command's status), and the line splitting of streamed output.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <unistd.h>

#include <fstream>

#include <fmt/format.h>

#include "guest_run.hpp"
#include "subprocess.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace slurmvm;
using namespace slurmvm::cli;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

RunResult wrapper(const std::string& base, const std::string& cwd, std::vector<std::string> argv) {
  Command c;
  c.argv = {"/bin/sh", "-c", guest_run_wrapper(), "vm-run", base, cwd, "", "--"};
  c.argv.insert(c.argv.end(), argv.begin(), argv.end());
  c.env_set = {"PATH=/usr/bin:/bin"};
  return run(c);
}

TEST(GuestRun, WrapperWritesTheOutputFilesAndKeepsTheStatus) {
  test::TempDir t;
  const std::string base = (t.path() / "slurm-vm-run.x").string();
  const RunResult r = wrapper(base, t.path().string(), {"sh", "-c", "pwd; echo oops >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(slurp(base + ".out"), t.path().string() + "\n");
  EXPECT_EQ(slurp(base + ".err"), "oops\n");
}

TEST(GuestRun, WrapperNeverWritesThroughAPlantedFile) {
  test::TempDir t;
  const std::string base = (t.path() / "slurm-vm-run.y").string();
  fs::create_symlink(t.path() / "victim", base + ".out");  // a guest user's trap
  const RunResult r = wrapper(base, "", {"echo", "secret"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_FALSE(fs::exists(t.path() / "victim"));
}

TEST(GuestRun, WrapperRefusesAMissingDirectory) {
  test::TempDir t;
  const std::string base = (t.path() / "slurm-vm-run.z").string();
  EXPECT_EQ(wrapper(base, "/nonexistent/dir", {"true"}).exit_code, 126);
  EXPECT_THAT(slurp(base + ".err"), testing::HasSubstr("/nonexistent/dir"));
}

// The guest agent's child is not a process group leader: setsid then keeps the pid the agent
// reports, and the command leads its own group, which `vm run` signals on an interrupt.
TEST(GuestRun, WrapperGivesTheCommandItsOwnProcessGroupUnderTheAgentsPid) {
  if (::access("/usr/bin/setsid", X_OK) != 0) GTEST_SKIP() << "no setsid here";
  test::TempDir t;
  const std::string base = (t.path() / "slurm-vm-run.g").string();
  Command c;
  c.argv = {"/bin/sh", "-c", guest_run_wrapper(), "vm-run", base, "", "", "--",
            "sh", "-c", "echo \"$$ $(cut -d' ' -f5 /proc/$$/stat)\""};
  c.env_set = {"PATH=/usr/bin:/bin"};
  c.new_process_group = false;  // as under qemu-ga
  ChildProcess child = spawn(c);
  const pid_t pid = child.pid();
  const auto r = child.wait_for(std::chrono::seconds(10));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(slurp(base + ".out"), fmt::format("{} {}\n", pid, pid));
}

TEST(GuestRun, SplitLinesKeepsTheUnfinishedLine) {
  std::vector<std::string> lines;
  std::string pending;
  const auto emit = [&](std::string_view l) { lines.emplace_back(l); };
  split_lines(pending, "one\ntw", emit);
  split_lines(pending, "o\n\nthr", emit);
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", ""}));
  EXPECT_EQ(pending, "thr");
}

}  // namespace
