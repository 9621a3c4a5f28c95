// Reclaiming stale jobs: what squeue's answer means (pure), which jobs have leftovers in a
// node's run directory (a temp dir), and what the reclaim does with the answer of a stand-in
// squeue. The whole path against real Slurm is tests/system/fault_test.sh.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "netsetup/node_job.hpp"
#include "netsetup/reclaim.hpp"

namespace fs = std::filesystem;
using namespace slurmvm::netsetup;
using Jobs = std::set<std::uint32_t>;

TEST(ParseLiveJobs, FinishedStatesAreNotAliveEverythingElseIs) {
  const auto live = parse_live_jobs(
      "7 7 RUNNING\n8 8 COMPLETED\n9 9 COMPLETING\n10 10 CANCELLED\n11 11 SUSPENDED\n12 12 NODE_FAIL\n"
      "13 13 CONFIGURING\n14 14 PENDING\n15 15 TIMEOUT\n16 16 SOME_FUTURE_STATE\n17 17 OUT_OF_MEMORY\n"
      "18 18 PREEMPTED\n");
  ASSERT_TRUE(live);
  EXPECT_EQ(*live, (Jobs{7, 9, 11, 13, 14, 16}));
}

// A node running only the second component of heterogeneous job 20 holds job 20's records.
TEST(ParseLiveJobs, AHeterogeneousComponentKeepsItsWholeJobAlive) {
  EXPECT_EQ(parse_live_jobs("21 20+1 RUNNING\n31 30_2 RUNNING\n41 40+1 COMPLETED\n"), (Jobs{20, 21, 31}));
  EXPECT_FALSE(parse_live_jobs("21 x+1 RUNNING\n"));
}

TEST(ParseLiveJobs, EmptyAnswerIsNoJob) {
  EXPECT_EQ(parse_live_jobs(""), Jobs{});
  EXPECT_EQ(parse_live_jobs("\n"), Jobs{});
}

TEST(ParseLiveJobs, AnythingOddMakesTheAnswerUntrustworthy) {
  EXPECT_FALSE(parse_live_jobs("7 7 RUNNING\nslurm_load_jobs error: Unable to contact slurm controller\n"));
  EXPECT_FALSE(parse_live_jobs("7 7\n"));
  EXPECT_FALSE(parse_live_jobs("7 RUNNING\n"));  // the old two-column format
  EXPECT_FALSE(parse_live_jobs("7_3 7_3 RUNNING\n"));  // %i of an array task, not %A
  EXPECT_FALSE(parse_live_jobs("007 007 RUNNING\n"));
  EXPECT_FALSE(parse_live_jobs("-7 -7 RUNNING\n"));
}

class LeftoversTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/svmt-reclaim-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    paths_.run_dir = tmpl;
  }
  void TearDown() override { fs::remove_all(paths_.run_dir); }
  void touch(const fs::path& p) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << "{}\n";
  }
  NodePaths paths_;
};

TEST_F(LeftoversTest, NothingOnAFreshNode) { EXPECT_EQ(jobs_with_leftovers(paths_), Jobs{}); }

TEST_F(LeftoversTest, LedgersRecordsAndJobDirectoriesCount) {
  touch(paths_.ledger_dir() / "12.jsonl");
  touch(paths_.state_dir() / "13.json");
  touch(paths_.jobs_dir() / "14" / "vms.json");
  touch(paths_.jobs_dir() / "12" / "error");
  // Not a job's: temporary files of atomic writes, an admin's notes, the saved ip_forward.
  touch(paths_.state_dir() / ".13.json.tmp");
  touch(paths_.state_dir() / "ip_forward.saved");
  touch(paths_.jobs_dir() / "README");
  touch(paths_.ledger_dir() / "0.jsonl");
  EXPECT_EQ(jobs_with_leftovers(paths_), (Jobs{12, 13, 14}));
}

TEST_F(LeftoversTest, CleanJobRemovesDirectoryAndRecordWithoutLedger) {
  touch(paths_.state_dir() / "13.json");
  touch(paths_.jobs_dir() / "13" / "error");
  touch(paths_.state_dir() / "14.json");
  const auto report = clean_job(paths_, 13);
  EXPECT_TRUE(report.ok());
  EXPECT_FALSE(report.ledger_found);
  EXPECT_EQ(jobs_with_leftovers(paths_), Jobs{14});
  EXPECT_TRUE(clean_job(paths_, 13).ok());  // twice: nothing to do, still success
}

// reclaim_stale_jobs against a stand-in for slurmctld: a squeue script that prints a fixed
// answer (or fails). Leftovers here are records and job directories only (no ledger), which
// clean_job removes without touching the kernel.
class ReclaimTest : public LeftoversTest {
 protected:
  SlurmQuery query(const std::string& script_body) {
    const fs::path squeue = paths_.run_dir / "squeue";
    std::ofstream(squeue) << "#!/bin/sh\n" << script_body;
    fs::permissions(squeue, fs::perms::owner_all);
    SlurmQuery q;
    q.squeue = squeue.string();
    return q;
  }
  void leftovers_of(std::initializer_list<std::uint32_t> jobs) {
    for (const auto j : jobs) {
      touch(paths_.state_dir() / (std::to_string(j) + ".json"));
      touch(paths_.jobs_dir() / std::to_string(j) / "vms.json");
    }
  }
};

TEST_F(ReclaimTest, EndedJobsAreCleanedLiveOnesKept) {
  leftovers_of({13, 14, 15, 20});
  // 13 ended, 14 still runs, 15 is no longer listed at all, 20 is the job being set up.
  const auto report = reclaim_stale_jobs(
      paths_, query("echo '20 20 CONFIGURING'; echo '13 13 COMPLETED'; echo '14 14 RUNNING'\n"), "n1", 20);
  EXPECT_FALSE(report.skipped);
  EXPECT_EQ(report.reclaimed, (Jobs{13, 15}));
  EXPECT_TRUE(report.failed.empty());
  EXPECT_EQ(jobs_with_leftovers(paths_), (Jobs{14, 20}));
}

TEST_F(ReclaimTest, WithoutATrustworthyAnswerNothingIsReclaimed) {
  leftovers_of({13, 20});
  // slurmctld unreachable (squeue fails), an answer about another cluster (it does not list the
  // job being set up), and an answer that does not parse.
  for (const char* body : {"echo 'squeue: error: Unable to contact slurm controller' >&2; exit 1\n",
                           "echo '13 13 COMPLETED'\n", "echo '13 COMPLETED'; echo '20 20 RUNNING'\n"}) {
    const auto report = reclaim_stale_jobs(paths_, query(body), "n1", 20);
    EXPECT_TRUE(report.skipped) << body;
    EXPECT_TRUE(report.reclaimed.empty()) << body;
    EXPECT_EQ(jobs_with_leftovers(paths_), (Jobs{13, 20})) << body;
  }
}

TEST_F(ReclaimTest, NoLeftoversOfOthersMeansNoQuestion) {
  leftovers_of({20});
  // A squeue that would fail the test if it ran: the common path asks slurmctld nothing.
  const auto report = reclaim_stale_jobs(paths_, query("touch \"$0.ran\"; exit 1\n"), "n1", 20);
  EXPECT_FALSE(report.skipped);
  EXPECT_TRUE(report.reclaimed.empty());
  EXPECT_FALSE(fs::exists(paths_.run_dir / "squeue.ran"));
}

TEST(Stepd, TheJobOfASlurmstepdCommandLine) {
  EXPECT_EQ(stepd_job(std::string_view("slurmstepd: [42.extern]\0", 24)), 42u);
  EXPECT_EQ(stepd_job("slurmstepd: [42.0]"), 42u);
  EXPECT_EQ(stepd_job("slurmstepd: [42.batch]"), 42u);
  EXPECT_EQ(stepd_job("slurmstepd: [42+1.0]"), 42u);
  for (const char* other : {"slurmstepd", "slurmstepd: [", "slurmstepd: [42]", "slurmstepd: [x.0]",
                            "slurmstepd: [0.0]", "/usr/sbin/slurmstepd", "sleep [42.0]", "slurmstepd: [99999999999.0]"}) {
    EXPECT_FALSE(stepd_job(other)) << other;
  }
}

// A job with a slurmstepd on the node runs: it is not slurmctld's to judge. With only such
// jobs beside the current one, squeue is not run at all.
TEST_F(ReclaimTest, JobsWithASlurmstepdHereAreNotAskedAbout) {
  leftovers_of({13, 14, 20});
  const fs::path proc = paths_.run_dir / "proc";
  auto process = [&](const char* pid, const std::string& cmdline) {
    fs::create_directories(proc / pid);
    std::ofstream(proc / pid / "cmdline") << cmdline;
  };
  process("100", std::string("slurmstepd: [13.extern]\0", 24));
  process("101", std::string("slurmstepd: [14.0]\0", 19));
  process("102", "bash");
  process("self", "slurmstepd: [15.0]");  // not a pid
  const auto report = reclaim_stale_jobs(paths_, query("touch \"$0.ran\"; exit 1\n"), "n1", 20, proc);
  EXPECT_FALSE(report.skipped);
  EXPECT_FALSE(fs::exists(paths_.run_dir / "squeue.ran"));
  EXPECT_EQ(jobs_with_leftovers(paths_), (Jobs{13, 14, 20}));
  EXPECT_EQ(jobs_with_stepd(proc), (Jobs{13, 14}));

  // Job 14's steps have ended: it alone is asked about, and cleaned.
  fs::remove_all(proc / "101");
  const auto second = reclaim_stale_jobs(paths_, query("echo '20 20 RUNNING'; echo '13 13 RUNNING'; echo '14 14 COMPLETED'\n"),
                                         "n1", 20, proc);
  EXPECT_EQ(second.reclaimed, Jobs{14});
  EXPECT_EQ(jobs_with_leftovers(paths_), (Jobs{13, 20}));
}
