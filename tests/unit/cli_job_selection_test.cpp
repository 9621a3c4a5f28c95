// Which virtual cluster a verb acts on (src/cli/job_selection.hpp): -j, else -J among the
// user's running clusters, else $SLURM_JOB_ID, else the only running cluster; several
// candidates are an error that lists them, never a guess.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include "error.hpp"
#include "job_selection.hpp"

#include <pwd.h>
#include <unistd.h>

using namespace slurmvm;
using namespace slurmvm::cli;
using testing::HasSubstr;

namespace {

const std::vector<RunningCluster> kTwo = {{41, "ci"}, {42, "dev"}};

Error error_of(const JobSelection& s, std::uint32_t env, const std::vector<RunningCluster>& running) {
  try {
    pick_job(s, env, running);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error";
  return Error("none");
}

TEST(JobSelection, JobIdWinsOverEverything) {
  EXPECT_EQ(pick_job({7, "dev", ""}, 9, kTwo), 7u);
}

TEST(JobSelection, NameIsLookedUpAmongRunningClustersEvenInsideAnAllocation) {
  EXPECT_EQ(pick_job({0, "dev", ""}, 41, kTwo), 42u);
}

TEST(JobSelection, UnknownNameIsNotFoundAndListsWhatRuns) {
  const Error e = error_of({0, "nosuch", ""}, 0, kTwo);
  EXPECT_EQ(e.kind(), ErrorKind::not_found);
  EXPECT_THAT(e.what(), HasSubstr("no running virtual cluster named nosuch"));
  EXPECT_THAT(e.what(), HasSubstr("41 (ci), 42 (dev)"));
}

TEST(JobSelection, ANameTwoClustersShareIsRefusedListingBoth) {
  const Error e = error_of({0, "ci", ""}, 0, {{41, "ci"}, {43, "ci"}, {42, "dev"}});
  EXPECT_EQ(e.kind(), ErrorKind::usage);
  EXPECT_THAT(e.what(), HasSubstr("41 (ci), 43 (ci)"));
  EXPECT_THAT(e.what(), HasSubstr("-j JOBID"));
}

TEST(JobSelection, TheAllocationsJobComesNext) {
  EXPECT_EQ(pick_job({}, 41, kTwo), 41u);
}

TEST(JobSelection, OutsideAnAllocationTheOnlyRunningClusterIsTheDefault) {
  EXPECT_EQ(pick_job({}, 0, {{42, "dev"}}), 42u);
}

TEST(JobSelection, SeveralRunningClustersAreNeverGuessedAmong) {
  const Error e = error_of({}, 0, kTwo);
  EXPECT_EQ(e.kind(), ErrorKind::usage);
  EXPECT_THAT(e.what(), HasSubstr("several running virtual clusters: 41 (ci), 42 (dev)"));
}

TEST(JobSelection, NoClusterAtAllSaysHowToStartOne) {
  const Error e = error_of({}, 0, {});
  EXPECT_EQ(e.kind(), ErrorKind::usage);
  EXPECT_THAT(e.what(), HasSubstr("vm alloc"));
}

// --user: never a change of identity in a unit test (it may run as root); what happens before.
TEST(JobSelection, AdminUserOnlyForRootAndOnlyAnExistingUser) {
  try {
    act_as_cluster_owner("svm-no-such-user");
    ADD_FAILURE() << "an unknown user was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
  }
  const passwd* me = ::getpwuid(::geteuid());
  ASSERT_NE(me, nullptr);
  const uid_t before = ::geteuid();
  EXPECT_NO_THROW(act_as_cluster_owner(me->pw_name));  // oneself: nothing changes
  EXPECT_EQ(::geteuid(), before);
  if (::geteuid() != 0) {
    try {
      act_as_cluster_owner("root");
      ADD_FAILURE() << "a user other than root took root's identity";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::usage);
      EXPECT_THAT(e.what(), HasSubstr("only root"));
    }
  }
}

}  // namespace
