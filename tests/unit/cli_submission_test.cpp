// What `vm alloc` and `vm batch` make of their command line before Slurm is asked
// (submission.hpp): the definition taken from the end and checked, the cluster resolved once
// with the overrides, the salloc/sbatch arguments (one task per VM; full-node templates), and the
// resolved cluster as the environment string `vm boot` reads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "error.hpp"
#include "override_options.hpp"
#include "resolved_cluster.hpp"
#include "submission.hpp"

using namespace slurmvm;
using namespace slurmvm::cli;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace {

const std::string kConfig = std::string(SLURM_VM_TEST_DATA) + "/config/pcocc";

class CliSubmission : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("SLURM_VM_SYSCONFDIR", (kConfig + "/system").c_str(), 1);
    ::setenv("SLURM_VM_USERCONFDIR", (kConfig + "/user").c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("SLURM_VM_SYSCONFDIR");
    ::unsetenv("SLURM_VM_USERCONFDIR");
  }
  OverrideOptions overrides_;
};

std::string usage_error(std::vector<std::string> extras, OverrideOptions& o) {
  try {
    read_submission(std::move(extras), "vm alloc tiny:2", o);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_F(CliSubmission, TheDefinitionIsTheLastWordAndTheRestGoesToSlurm) {
  const Submission s = read_submission({"-p", "debug", "--time=5", "mycentos:2"}, "x", overrides_);
  EXPECT_EQ(s.def.to_string(), "mycentos:2");
  EXPECT_THAT(s.slurm_args, ElementsAre("-p", "debug", "--time=5"));
  EXPECT_FALSE(s.full_node);
  EXPECT_EQ(slurm_argv("salloc", s, 2, ""),
            (std::vector<std::string>{"salloc", "--ntasks=2", "--cpus-per-task=2", "--vm-template=mycentos:2", "-p",
                                      "debug", "--time=5"}));
}

// VMs of several sizes: one heterogeneous component per group, the user's options in each.
TEST_F(CliSubmission, SizesMakeOneComponentPerGroup) {
  const Submission s = read_submission({"-p", "debug", "mycentos:1:c=4,mycentos:2"}, "x", overrides_);
  EXPECT_EQ(slurm_argv("salloc", s, 2, "", {"--no-shell"}),
            (std::vector<std::string>{"salloc", "--ntasks=1", "--cpus-per-task=4",
                                      "--vm-template=mycentos:1:c=4,mycentos:2", "--no-shell", "-p", "debug", ":",
                                      "--ntasks=2", "--cpus-per-task=2", "-p", "debug"}));
  EXPECT_THROW(slurm_argv("salloc", s, 2, "2"), Error);  // -N
  // One size, written with c=: an ordinary job of that size, whatever -c says.
  const Submission one = read_submission({"mycentos:1:c=3,mycentos:1:c=3"}, "x", overrides_);
  EXPECT_EQ(slurm_argv("salloc", one, 2, ""),
            (std::vector<std::string>{"salloc", "--ntasks=2", "--cpus-per-task=3",
                                      "--vm-template=mycentos:1:c=3,mycentos:1:c=3"}));
}

TEST_F(CliSubmission, ADefinitionIsRequiredAndChecked) {
  EXPECT_THAT(usage_error({}, overrides_), HasSubstr("missing the cluster definition DEF (e.g. `vm alloc tiny:2`)"));
  EXPECT_THAT(usage_error({"-p", "debug", "--time=5"}, overrides_), HasSubstr("missing the cluster definition"));
  EXPECT_THAT(usage_error({"nosuch:2"}, overrides_), HasSubstr("unknown template \"nosuch\""));
}

TEST_F(CliSubmission, TheClusterIsResolvedOnceWithItsOverrides) {
  overrides_.images = {"/images/other.qcow2"};
  const Submission s = read_submission({"mycentos:3"}, "x", overrides_);
  ASSERT_EQ(s.resolved.templates.size(), 1u);
  EXPECT_EQ(s.resolved.definition, "mycentos:3");
  EXPECT_EQ(s.resolved.get("mycentos").image, "/images/other.qcow2");
  EXPECT_EQ(s.resolved.get("mycentos").emulator_cores, 1);  // the user's template, resolved
  // What vm boot gets: the same cluster.
  const std::string env = resolved_env(s.resolved);
  ASSERT_EQ(env.rfind("SLURM_VM_RESOLVED=", 0), 0u);
  const auto back = parse_resolved_cluster(env.substr(env.find('=') + 1), "SLURM_VM_RESOLVED");
  EXPECT_EQ(back.get("mycentos").image, "/images/other.qcow2");
}

TEST_F(CliSubmission, FullNodeTemplatesTakeWholeNodes) {
  const Submission s = read_submission({"wholenode:3"}, "x", overrides_);
  EXPECT_TRUE(s.full_node);
  EXPECT_EQ(slurm_argv("sbatch", s, 0, "", {"--wait"}),
            (std::vector<std::string>{"sbatch", "--ntasks=3", "--nodes=3", "--ntasks-per-node=1", "--exclusive",
                                      "--mem=0", "--vm-template=wholenode:3", "--wait"}));
  EXPECT_THROW(slurm_argv("sbatch", s, 4, ""), Error);   // -c: every VM gets its whole node
  EXPECT_THROW(slurm_argv("sbatch", s, 0, "2"), Error);  // -N other than the VM count
  EXPECT_NO_THROW(slurm_argv("sbatch", s, 0, "3"));
  EXPECT_THAT(usage_error({"wholenode:1,mycentos:1"}, overrides_), HasSubstr("either all full-node or none"));
}

TEST_F(CliSubmission, AResolvedClusterTooLargeForTheEnvironmentIsRefused) {
  Submission s = read_submission({"mycentos:1"}, "x", overrides_);
  auto& t = s.resolved.templates.front();
  t.user_data = config::UserDataInline{{{"write_files", {{{"content", std::string(200 * 1024, 'x')}}}}}};
  try {
    resolved_env(s.resolved);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_THAT(e.what(), HasSubstr("move large inline user-data into a file"));
  }
}

// An infiniband network's `license` (pcocc's key) becomes --licenses, once per name, for the
// networks of the cluster's resource sets only.
TEST_F(CliSubmission, InfinibandLicensesAreRequested) {
  config::Config cfg;
  auto ib = [](std::optional<std::string> license) {
    return config::InfinibandNetwork{"mlx5_0", 0x2000, 0x3000, "opensm", "/p", "/t", std::move(license)};
  };
  cfg.networks.emplace("ib", config::Network{"ib", {}, 0, ib("ib_pkey")});
  cfg.networks.emplace("ib2", config::Network{"ib2", {}, 0, ib("ib_pkey")});
  cfg.networks.emplace("ib3", config::Network{"ib3", {}, 0, ib(std::nullopt)});
  cfg.networks.emplace("other", config::Network{"other", {}, 0, ib("unused")});
  cfg.resource_sets.emplace("a", config::ResourceSet{"a", {"ib", "ib3"}, false, {}, 0});
  cfg.resource_sets.emplace("b", config::ResourceSet{"b", {"ib2"}, false, {}, 0});
  ResolvedCluster r;
  r.templates.resize(2);
  r.templates[0].resource_set = "a";
  r.templates[1].resource_set = "b";
  EXPECT_EQ(network_licenses(cfg, r), std::vector<std::string>{"ib_pkey"});
  r.templates[1].resource_set = "missing";
  EXPECT_EQ(network_licenses(cfg, r), std::vector<std::string>{"ib_pkey"});
  r.templates[0].resource_set = "none";
  EXPECT_TRUE(network_licenses(cfg, r).empty());
}

// The user's own licenses and the network's end up in one --licenses (Slurm keeps the last).
TEST_F(CliSubmission, LicensesAreMergedIntoOne) {
  OverrideOptions o;
  Submission s = read_submission({"-L", "matlab", "--licenses=fluent:2", "mycentos:1"}, "x", o);
  s.cfg.networks.insert_or_assign("ib", config::Network{"ib", {}, 0,
                                               config::InfinibandNetwork{"mlx5_0", 0x2000, 0x3000, "opensm", "/p",
                                                                         "/t", std::string("ib_pkey")}});
  s.cfg.resource_sets[s.resolved.templates.at(0).resource_set].networks.push_back("ib");
  const auto argv = slurm_argv("salloc", s, 0, "");
  EXPECT_EQ(argv.back(), "--licenses=matlab,fluent:2,ib_pkey");
  EXPECT_EQ(std::count_if(argv.begin(), argv.end(), [](const std::string& a) { return a.starts_with("-L") ||
                                                                                     a.starts_with("--lic"); }),
            1);
}
