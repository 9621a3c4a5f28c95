// Reclaiming stale jobs: what squeue's answer means (pure), and which jobs have leftovers in a
// node's run directory (a temp dir). The whole path against real Slurm is
// tests/system/fault_test.sh.
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
