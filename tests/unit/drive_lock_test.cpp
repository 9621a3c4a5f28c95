// mmp: cluster drive locks (drive_lock.hpp) on real files: one job holds a drive, its other VMs
// join, another job is refused while the first runs and takes over once it is gone.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "drive_lock.hpp"
#include "error.hpp"

namespace fs = std::filesystem;
using slurmvm::Error;
using slurmvm::ErrorKind;
using testing::HasSubstr;

namespace {

class DriveLock : public testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "drive-lock-test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string content(const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  fs::path dir_;
  std::set<std::uint32_t> running_;
  slurmvm::JobAlive alive_ = [this](std::uint32_t id) { return running_.count(id) > 0; };
};

}  // namespace

TEST(DriveLockName, EscapesEverythingButSafeBytes) {
  EXPECT_EQ(slurmvm::drive_lock_name("/scratch/al ice/data.raw"), "%2Fscratch%2Fal%20ice%2Fdata.raw");
  EXPECT_EQ(slurmvm::drive_lock_name("a%b"), "a%25b");
}

TEST_F(DriveLock, OneJobHoldsItOthersWaitOrTakeOverAStaleLock) {
  const fs::path lock = slurmvm::lock_drive_for_job(dir_, "/scratch/d.raw", 5, alive_);
  EXPECT_EQ(lock, dir_ / "%2Fscratch%2Fd.raw");
  EXPECT_EQ(content(lock), "5\n");
  // Another VM of job 5 shares it.
  EXPECT_EQ(slurmvm::lock_drive_for_job(dir_, "/scratch/d.raw", 5, alive_), lock);
  // Job 6 while job 5 runs: refused, naming job 5.
  running_ = {5};
  try {
    slurmvm::lock_drive_for_job(dir_, "/scratch/d.raw", 6, alive_);
    ADD_FAILURE() << "job 6 got the drive";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    EXPECT_THAT(e.what(), HasSubstr("in use by your job 5"));
  }
  EXPECT_EQ(content(lock), "5\n");
  // Job 5 ended without releasing it (vm boot died): job 6 takes it over.
  running_.clear();
  slurmvm::lock_drive_for_job(dir_, "/scratch/d.raw", 6, alive_);
  EXPECT_EQ(content(lock), "6\n");
  // Only the holder releases it; then it is free without asking Slurm.
  EXPECT_FALSE(slurmvm::release_drive_lock(lock, 5));
  EXPECT_TRUE(slurmvm::release_drive_lock(lock, 6));
  EXPECT_EQ(content(lock), "");
  slurmvm::lock_drive_for_job(dir_, "/scratch/d.raw", 7, [](std::uint32_t) -> bool {
    ADD_FAILURE() << "a free lock needs no liveness check";
    return true;
  });
  EXPECT_EQ(content(lock), "7\n");
  EXPECT_FALSE(slurmvm::release_drive_lock(dir_ / "nosuch", 7));
}
