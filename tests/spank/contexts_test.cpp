// The SPANK plugin's contexts against a stub of Slurm (spank_stub.hpp): what srun/sbatch/salloc
// hand the prolog for a new job and refuse before it is queued, what they skip inside an
// existing allocation, and what slurmstepd hands the tasks, never failing the step.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "contexts.hpp"
#include "error.hpp"
#include "options.hpp"
#include "spank_stub.hpp"

using namespace slurmvm;
using namespace slurmvm::test;
using ::testing::HasSubstr;

namespace {

const std::string kConfig = std::string(SLURM_VM_TEST_DATA) + "/config/pcocc";

class SpankContexts : public ::testing::Test {
 protected:
  void SetUp() override {
    reset_spank_stub();
    spank::clear_option_value();
    spank::register_options(stub_handle());
    ::setenv("SLURM_VM_SYSCONFDIR", (kConfig + "/system").c_str(), 1);
    ::setenv("SLURM_VM_USERCONFDIR", (kConfig + "/user").c_str(), 1);
    ::unsetenv("SLURM_VM_TEMPLATE");
  }
  void TearDown() override {
    spank::clear_option_value();  // process-wide, as in Slurm's processes
    ::unsetenv("SLURM_VM_SYSCONFDIR");
    ::unsetenv("SLURM_VM_USERCONFDIR");
    ::unsetenv("SLURM_VM_TEMPLATE");
  }
  const spank::PluginArgs args_{};
};

}  // namespace

TEST_F(SpankContexts, SubmitHandsTheCanonicalDefinitionAndResourceSetsToTheProlog) {
  spank_stub().give_option("mycentos", 0);
  EXPECT_EQ(spank::submit_init_post_opt(stub_handle(), args_, true), 0);
  EXPECT_EQ(spank_stub().job_control_env.at("VM_TEMPLATE"), "mycentos:1");
  EXPECT_FALSE(spank_stub().job_control_env.at("VM_RESOURCES").empty());
}

TEST_F(SpankContexts, SubmitRefusesAnUnknownTemplateNamingTheOption) {
  spank_stub().give_option("nosuch:2", 0);
  try {
    spank::submit_init_post_opt(stub_handle(), args_, true);
    FAIL() << "accepted an unknown template";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("--vm-template"));
    EXPECT_THAT(e.what(), HasSubstr("nosuch"));
  }
  EXPECT_TRUE(spank_stub().job_control_env.empty());
}

TEST_F(SpankContexts, SubmitFallsBackToTheEnvironmentAndSaysWhenItCannotHandOver) {
  ::setenv("SLURM_VM_TEMPLATE", "mycentos:3", 1);
  spank_stub().job_control_result = static_cast<spank_err_t>(ESPANK_ERROR);
  try {
    spank::submit_init_post_opt(stub_handle(), args_, true);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot hand the cluster definition to the job prolog"));
  }
}

// An srun inside an existing allocation (the VMs' step of vm boot) reads no configuration and
// hands nothing: its job's prolog has run. A configuration that no longer loads does not matter.
TEST_F(SpankContexts, AStepOfAnExistingJobChecksNothing) {
  spank_stub().give_option("nosuch:2", 0);
  ::setenv("SLURM_VM_SYSCONFDIR", "/nonexistent", 1);
  EXPECT_EQ(spank::submit_init_post_opt(stub_handle(), args_, false), 0);
  EXPECT_TRUE(spank_stub().job_control_env.empty());
}

TEST_F(SpankContexts, NoOptionNoVariableIsNotAVirtualCluster) {
  EXPECT_EQ(spank::submit_init_post_opt(stub_handle(), args_, true), 0);
  EXPECT_TRUE(spank_stub().job_control_env.empty());
}

TEST_F(SpankContexts, RemoteGivesTheTasksTheCanonicalDefinition) {
  spank_stub().give_option("mycentos", 1);
  EXPECT_EQ(spank::remote_init_post_opt(stub_handle()), 0);
  EXPECT_EQ(spank_stub().task_env.at("SLURM_VM_TEMPLATE"), "mycentos:1");
}

// slurmstepd reads the job's environment through a buffer: a value longer than the first one
// is read whole (ESPANK_NOSPACE, then a larger buffer).
TEST_F(SpankContexts, RemoteReadsALongValueFromTheJobsEnvironment) {
  std::string def = "a:1";
  for (int i = 0; i < 200; ++i) def += ",a:1";
  spank_stub().job_env["SLURM_VM_TEMPLATE"] = def;
  EXPECT_EQ(spank::remote_init_post_opt(stub_handle()), 0);
  EXPECT_GT(spank_stub().getenv_calls, 1);
  EXPECT_EQ(spank_stub().task_env.at("SLURM_VM_TEMPLATE"), def);
}

// A bad value never fails the step (a failed batch step drains the node): the tasks get no
// SLURM_VM_TEMPLATE at all, and vm-launch has no VM to start.
TEST_F(SpankContexts, RemoteNeverFailsTheStepOnABadValue) {
  spank_stub().give_option("not a definition!", 1);
  EXPECT_EQ(spank::remote_init_post_opt(stub_handle()), 0);
  EXPECT_EQ(spank_stub().task_env.count("SLURM_VM_TEMPLATE"), 0u);
  EXPECT_EQ(spank_stub().task_env.count("unset:SLURM_VM_TEMPLATE"), 1u);
}
