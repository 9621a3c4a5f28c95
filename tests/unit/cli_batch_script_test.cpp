// The batch script of `vm batch` (src/cli/batch_script.hpp): its text is golden, and it is run
// for real by /bin/sh with a stand-in for `vm` (boot runs the -E command, ssh vm0 runs its
// command here), so that the exit status rules, the scripts' content and the cleanup of the
// private directory are checked without Slurm.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "base64.hpp"
#include "batch_script.hpp"
#include "error.hpp"
#include "golden_file.hpp"
#include "subprocess.hpp"

namespace fs = std::filesystem;
using namespace slurmvm;
using namespace slurmvm::cli;
using testing::HasSubstr;

namespace {

class BatchRun : public testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vm-batch-test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "tmp");
    // `vm boot ... -E CMD` runs CMD; `vm ssh vm0 CMD` runs CMD (with the script on stdin).
    std::ofstream(dir_ / "vm") << "#!/bin/sh\n"
                                  "case $1 in\n"
                                  "  boot) printf '%s' \"${SLURM_VM_RESOLVED-unset}\" >\"${0%/vm}/resolved\";"
                                  " while [ $# -gt 0 ]; do [ \"$1\" = -E ] && cmd=$2;"
                                  " [ \"$1\" = --until-poweroff ] && cmd='echo until poweroff; exit 0';"
                                  " [ \"$1\" = --restore ] && printf '%s' \"$2\" >\"${0%/vm}/restore\"; shift; done;"
                                  " echo \"boot ran\"; /bin/sh -c \"$cmd\" ;;\n"
                                  "  ssh) [ \"$2\" = vm0 ] || exit 99; /bin/sh -c \"$3\" ;;\n"
                                  "  exec) [ \"$5\" = vm0 ] && [ \"$6\" = -- ] || exit 97; echo via agent;"
                                  " shift 6; \"$@\" ;;\n"
                                  "  *) exit 98 ;;\n"
                                  "esac\n";
    fs::permissions(dir_ / "vm", fs::perms::owner_all);
  }
  void TearDown() override { fs::remove_all(dir_); }

  RunResult run(BatchScripts s) {
    s.vm_program = (dir_ / "vm").string();
    Command c;
    c.argv = {"/bin/sh", "-c", batch_script(s)};
    // vm boot's job directory: its ssh_config has vm0 unless the test says there is no SSH.
    fs::create_directories(dir_ / "job");
    std::ofstream(dir_ / "job/ssh_config") << (ssh_ ? "Host vm0\n  Port 60222\n" : "Host *\n");
    c.env_set = {"TMPDIR=" + (dir_ / "tmp").string(), "PATH=/usr/bin:/bin",
                 "SLURM_VM_JOB_DIR=" + (dir_ / "job").string()};
    c.timeout = std::chrono::seconds(20);
    return slurmvm::run(c);
  }
  bool tmp_is_empty() const { return fs::is_empty(dir_ / "tmp"); }

  fs::path dir_;
  bool ssh_ = true;
};

}  // namespace

TEST(BatchScript, Golden) {
  BatchScripts s;
  s.vm_program = "/usr/bin/vm";
  s.host_script = "#!/bin/sh\necho host\n";
  s.vm_script = "#!/bin/sh\necho in vm0\nexit 3\n";
  s.resolved_cluster = R"({"definition":"tiny:2","format":1})";
  expect_golden("cli/batch-script.sh", batch_script(s));
}

// The cluster resolved at submission reaches `vm boot` byte for byte, whatever it holds.
TEST_F(BatchRun, ResolvedClusterReachesBoot) {
  BatchScripts s;
  s.vm_script = "#!/bin/sh\nexit 0\n";
  s.resolved_cluster = R"({"a":"'\"$HOME`id`\\n","b":"SLURM_VM_EOF"})";
  const RunResult r = run(s);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::ifstream in(dir_ / "resolved");
  const std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, s.resolved_cluster);
  s.resolved_cluster.clear();  // vm boot run without one resolves its own
  EXPECT_EQ(run(s).exit_code, 0);
  std::ifstream again(dir_ / "resolved");
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>()), "unset");
}

TEST_F(BatchRun, VmScriptStatusAndOutputComeBack) {
  BatchScripts s;
  s.vm_script = "#!/bin/sh\necho \"in vm0: $0\"\nexit 7\n";
  const RunResult r = run(s);
  EXPECT_EQ(r.exit_code, 7) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("boot ran"));
  EXPECT_THAT(r.out, HasSubstr("in vm0: "));
  EXPECT_TRUE(tmp_is_empty()) << "the private directory was left behind";
  s.vm_script = "echo fine\n";  // no #!: run by sh
  EXPECT_EQ(run(s).exit_code, 0);
}

TEST_F(BatchRun, HostScriptRunsTooAndCountsWhenTheVmScriptSucceeded) {
  BatchScripts s;
  s.host_script = "#!/bin/sh\necho \"host $#\"\nexit 4\n";
  s.vm_script = "#!/bin/sh\nexit 0\n";
  RunResult r = run(s);
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("host 0"));
  s.vm_script = "#!/bin/sh\nexit 5\n";  // the VM script's failure wins
  EXPECT_EQ(run(s).exit_code, 5);
  s.vm_script.reset();
  EXPECT_EQ(run(s).exit_code, 4);
  EXPECT_TRUE(tmp_is_empty());
}

// vm0 without SSH (no reverse-NAT port): the VM script goes through the guest agent, with the
// same status and output.
TEST_F(BatchRun, WithoutSshTheVmScriptGoesThroughTheAgent) {
  ssh_ = false;
  BatchScripts s;
  s.vm_script = "#!/bin/sh\necho \"in vm0: $0\"\nexit 6\n";
  const RunResult r = run(s);
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("via agent"));
  EXPECT_THAT(r.out, HasSubstr("in vm0: "));
  EXPECT_TRUE(tmp_is_empty());
}

// With no script the cluster is the job: vm boot keeps it until its VMs power off, with the
// cluster resolved at submission, and the job's status is boot's.
TEST_F(BatchRun, NoScriptKeepsTheClusterUntilItPowersOff) {
  BatchScripts s;
  s.resolved_cluster = R"({"definition":"tiny:1"})";
  const RunResult r = run(s);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("until poweroff"));
  std::ifstream in(dir_ / "resolved");
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), s.resolved_cluster);
  EXPECT_TRUE(tmp_is_empty());
}

// vm batch -r: the checkpoint's path reaches `vm boot --restore` as it is, quotes and all,
// with or without scripts.
TEST_F(BatchRun, RestoreDirReachesBootVerbatim) {
  const std::string dir = "/ck pt/it's \"$HOME\" `id`";
  for (const bool with_script : {false, true}) {
    BatchScripts s;
    s.resolved_cluster = R"({"definition":"tiny:1"})";
    s.restore_dir = dir;
    if (with_script) s.vm_script = "#!/bin/sh\nexit 0\n";
    const RunResult r = run(s);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    std::ifstream in(dir_ / "restore");
    EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), dir) << with_script;
    fs::remove(dir_ / "restore");
  }
}

TEST_F(BatchRun, AnyBytesSurviveTheTrip) {
  // Quotes, a heredoc-looking line, a line of the delimiter, no final newline.
  const std::string body = "#!/bin/sh\ncat <<'EOF'\n'\"$x`\nSLURM_VM_EOF\nEOF\nprintf 'done'";
  BatchScripts s;
  s.host_script = body;
  const RunResult r = run(s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("'\"$x`\nSLURM_VM_EOF\ndone"));
}

TEST(Base64, Lines) {
  EXPECT_EQ(base64_lines("fo"), "Zm8=\n");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode(std::string(60, 'a')).find('\n'), std::string::npos);  // one line
  EXPECT_EQ(base64_lines(std::string(57, 'a')).size(), 77u);  // one full line of 76
}

TEST(Base64, DecodeIsTheInverse) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_EQ(base64_decode(base64_lines(all)), all);
  EXPECT_EQ(base64_decode("Zm8="), "fo");
  EXPECT_EQ(base64_decode("Zm9v\nYmFy"), "foobar");
  EXPECT_THROW(base64_decode("Zm9v!"), Error);
}

// vm batch --junit: each script's output, status and times land in the results directory
// (junit_report.hpp reads them), and the job's exit status follows the same rule as without.
TEST_F(BatchRun, ResultsDirectoryGetsEachScriptsOutputStatusAndTime) {
  fs::create_directories(dir_ / "results");
  BatchScripts s;
  s.results_dir = (dir_ / "results").string();
  s.host_script = "#!/bin/sh\necho 'host out'\necho 'host err' >&2\nexit 4\n";
  s.vm_script = "#!/bin/sh\necho 'in vm0'\nexit 0\n";
  const RunResult r = run(s);
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("in vm0"));  // still in the job's output
  const auto slurp = [&](const char* name) {
    std::ifstream in(dir_ / "results" / name);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_TRUE(fs::exists(dir_ / "results/started"));
  EXPECT_EQ(slurp("host-script.status"), "4\n");
  EXPECT_THAT(slurp("host-script.out"), HasSubstr("host out\n"));
  EXPECT_THAT(slurp("host-script.out"), HasSubstr("host err\n"));
  EXPECT_EQ(slurp("vm-script.status"), "0\n");
  EXPECT_EQ(slurp("vm-script.out"), "in vm0\n");
  EXPECT_THAT(slurp("vm-script.time"), testing::MatchesRegex("[0-9]+\\.[0-9]+ [0-9]+\\.[0-9]+\n"));
  EXPECT_TRUE(tmp_is_empty());

  s.vm_script = "#!/bin/sh\nexit 6\n";  // the VM script's failure still wins
  EXPECT_EQ(run(s).exit_code, 6);
  EXPECT_EQ(slurp("vm-script.status"), "6\n");
}
