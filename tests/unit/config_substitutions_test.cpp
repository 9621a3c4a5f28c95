// pcocc's %{...} substitutions: checked at load time, expanded at use time for a given user,
// job-dependent ones left for the VM launcher.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "config/substitutions.hpp"
#include "error.hpp"

using slurmvm::Error;
using slurmvm::config::expand_substitutions;
using slurmvm::config::substitution_error;
using slurmvm::config::SubstitutionContext;
using testing::StrEq;
using testing::ThrowsMessage;

namespace {

SubstitutionContext alice() {
  static const std::map<std::string, std::string> env = {{"SCRATCH", "/scratch/alice"}};
  return {"alice", "/home/alice", [](const std::string& name) -> std::optional<std::string> {
            auto it = env.find(name);
            if (it == env.end()) return std::nullopt;
            return it->second;
          }};
}

}  // namespace

TEST(ConfigSubstitutions, ExpandsUserHomeAndEnvironment) {
  EXPECT_EQ(expand_substitutions("%{homedir}/.pcocc/images", alice()), "/home/alice/.pcocc/images");
  EXPECT_EQ(expand_substitutions("/scratch/%{user}/data.raw", alice()), "/scratch/alice/data.raw");
  EXPECT_EQ(expand_substitutions("%{env:SCRATCH}/x", alice()), "/scratch/alice/x");
  EXPECT_EQ(expand_substitutions("~/img", alice()), "/home/alice/img");
  EXPECT_EQ(expand_substitutions("~", alice()), "/home/alice");
  EXPECT_EQ(expand_substitutions("/a/~b/100%", alice()), "/a/~b/100%");
  EXPECT_EQ(expand_substitutions("", alice()), "");
}

TEST(ConfigSubstitutions, KeepsJobDependentOnesVerbatim) {
  EXPECT_EQ(expand_substitutions("%{clusterdir}/disk%{vm_rank}-%{user}", alice()),
            "%{clusterdir}/disk%{vm_rank}-alice");
  EXPECT_EQ(expand_substitutions("%{clusteruser}", alice()), "%{clusteruser}");
}

TEST(ConfigSubstitutions, ReportsMalformedOnes) {
  EXPECT_EQ(substitution_error("%{homedir}/%{vm_rank}/%{env:X_1}"), std::nullopt);
  EXPECT_EQ(substitution_error("%{home}"),
            "unknown substitution \"%{home}\" (known: %{env:VAR}, %{homedir}, %{user}, "
            "%{clusterdir}, %{clusteruser}, %{vm_rank})");
  EXPECT_EQ(substitution_error("/a/%{user"), "unterminated substitution \"%{user\" (missing '}')");
  EXPECT_EQ(substitution_error("%{env:1X}"), "invalid environment variable name in \"%{env:1X}\"");
  EXPECT_EQ(substitution_error("%{env:}"), "invalid environment variable name in \"%{env:}\"");
}

TEST(ConfigSubstitutions, UnsetVariablesAndUnknownUsersAreErrors) {
  EXPECT_THAT([] { expand_substitutions("%{env:NOPE}/x", alice()); },
              ThrowsMessage<Error>(
                  StrEq("cannot expand \"%{env:NOPE}/x\": environment variable NOPE is not set")));
  SubstitutionContext nobody = alice();
  nobody.homedir.clear();
  EXPECT_THAT(
      [&] { expand_substitutions("%{homedir}", nobody); },
      ThrowsMessage<Error>(StrEq("cannot expand \"%{homedir}\": the home directory is unknown")));
  EXPECT_THAT([] { expand_substitutions("%{nope}", alice()); },
              ThrowsMessage<Error>(testing::StartsWith("unknown substitution \"%{nope}\"")));
}
