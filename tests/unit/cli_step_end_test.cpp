// Why the VMs' srun step ended (src/cli/step_end.hpp), from srun's messages as Slurm 22.05
// prints them (captured on the sandbox): the VMs that ended it, not the ones srun stopped after.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include "step_end.hpp"

using namespace slurmvm::cli;
using testing::HasSubstr;

namespace {

TEST(StepEnd, TheKilledVmIsTheCauseNotTheOnesStoppedAfterIt) {
  const auto causes = step_end_causes(
      "vm-launch: vm1 on node2: starting QEMU\n"
      "srun: error: node2: task 3: Killed\n"
      "srun: launch/slurm: _step_signal: Terminating StepId=9.0\n"
      "srun: error: node2: task 2: Terminated\n"
      "srun: error: node1: tasks 0-1: Terminated\n"
      "srun: Force Terminated StepId=9.0\n");
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0].rank, 3u);
  EXPECT_EQ(causes[0].node, "node2");
  EXPECT_EQ(causes[0].how, "Killed");
}

TEST(StepEnd, TaskRangesAreEachAVm) {
  const auto causes = step_end_causes("srun: error: node1: tasks 0-1,4: Exited with exit code 3\n");
  ASSERT_EQ(causes.size(), 3u);
  EXPECT_EQ(causes[0].rank, 0u);
  EXPECT_EQ(causes[1].rank, 1u);
  EXPECT_EQ(causes[2].rank, 4u);
  EXPECT_EQ(causes[2].how, "Exited with exit code 3");
}

TEST(StepEnd, OtherLinesAndMalformedOnesAreNotCauses) {
  EXPECT_TRUE(step_end_causes("").empty());
  EXPECT_TRUE(step_end_causes("srun: error: Unable to create step\n"
                              "srun: error: node1: task x: Killed\n"
                              "srun: error: node1: task 2-1: Killed\n"
                              "srun: error: node1: task 1 Killed\n"
                              "qemu: terminating on signal 15\n")
                  .empty());
  // A line without its newline (the log being written) still counts.
  EXPECT_EQ(step_end_causes("srun: error: node1: task 0: Segmentation fault").size(), 1u);
}

TEST(StepEnd, DescriptionNamesTheVmsTheNodeAndHow) {
  const std::string one = describe_step_end(42, 3, {{1, "node2", "Killed"}}, 137, 0);
  EXPECT_THAT(one, HasSubstr("job 42: the virtual cluster ended: vm1 on node2 (Killed) ended"));
  EXPECT_THAT(one, HasSubstr("the other VMs were stopped with it"));
  EXPECT_THAT(describe_step_end(42, 1, {{0, "node1", "Killed"}}, 137, 0), testing::Not(HasSubstr("other VMs")));
  EXPECT_THAT(describe_step_end(42, 2, {}, 0, 0), HasSubstr("has shut down: every VM powered off"));
  EXPECT_THAT(describe_step_end(42, 2, {}, 1, 0), HasSubstr("exit status 1) without naming a VM"));
}

}  // namespace
