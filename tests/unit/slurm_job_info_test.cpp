// `vm boot`'s reading of `scontrol show job --oneliner`: the memory vm-launch sizes VMs by when
// Slurm did not export it (slurm_job_info.hpp).
#include <gtest/gtest.h>

#include "slurm_job_info.hpp"

using slurmvm::cli::memory_env_from_scontrol;

TEST(SlurmJobInfo, MemoryFromScontrol) {
  EXPECT_EQ(memory_env_from_scontrol("JobId=7 NumNodes=2 MinMemoryCPU=2G MinTmpDiskNode=0"), "SLURM_MEM_PER_CPU=2048");
  EXPECT_EQ(memory_env_from_scontrol("JobId=7 MinMemoryNode=1500M Features=(null)"), "SLURM_MEM_PER_NODE=1500");
  EXPECT_EQ(memory_env_from_scontrol("JobId=7 MinMemoryNode=1T"), "SLURM_MEM_PER_NODE=1048576");
  // --mem=0: the whole nodes, from the job's TRES over its node count.
  EXPECT_EQ(memory_env_from_scontrol("JobId=7 NumNodes=2 TRES=cpu=8,mem=16G,node=2,billing=8 MinMemoryNode=0"),
            "SLURM_MEM_PER_NODE=8192");
  EXPECT_FALSE(memory_env_from_scontrol("JobId=7 MinMemoryNode=0"));  // no TRES to tell
  EXPECT_FALSE(memory_env_from_scontrol("JobId=7 NumNodes=1"));
  EXPECT_FALSE(memory_env_from_scontrol("JobId=7 XMinMemoryCPU=2G"));  // not the field
}
