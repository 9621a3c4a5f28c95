// spank_vm.so's choice of cluster definition (option, else environment), the configuration it
// checks against, and the check's messages.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "definition.hpp"
#include "error.hpp"

using slurmvm::Error;
using slurmvm::ErrorKind;
using slurmvm::config::ConfigDirs;
using slurmvm::config::EnvLookup;
using slurmvm::spank::check_definition;
using slurmvm::spank::DefinitionRequest;
using slurmvm::spank::parse_definition;
using slurmvm::spank::PluginArgs;
using slurmvm::spank::requested_definition;
using slurmvm::spank::submission_config_dirs;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// A system template centos7-cloud; the user's mine and their own centos7-cloud.
const std::filesystem::path kShadow = SLURM_VM_TEST_DATA "/config/shadow";

// The Error that checking `text` (from the option) against `dirs` throws.
Error check_error(const std::string& text, const ConfigDirs& dirs) {
  try {
    check_definition({text, "--vm-template"}, dirs);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for " << text;
  return Error("none");
}

bool starts_with(const Error& e, std::string_view prefix) {
  return std::string_view(e.what()).starts_with(prefix);
}

}  // namespace

TEST(SpankDefinition, OptionWinsOverEnvironment) {
  const auto r = requested_definition(std::string("a:1"), std::string("b:2"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text, "a:1");
  EXPECT_EQ(r->source, "--vm-template");
}

TEST(SpankDefinition, EnvironmentIsTheFallback) {
  const auto r = requested_definition(std::nullopt, std::string("b:2"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text, "b:2");
  EXPECT_EQ(r->source, "SLURM_VM_TEMPLATE");
}

TEST(SpankDefinition, NeitherOrAnEmptyVariableMeansNoVirtualCluster) {
  EXPECT_FALSE(requested_definition(std::nullopt, std::nullopt));
  EXPECT_FALSE(requested_definition(std::nullopt, std::string()));
}

TEST(SpankDefinition, AnEmptyOptionIsStillARequest) {
  // `--vm-template=` must fail loudly rather than run an ordinary job.
  const auto r = requested_definition(std::string(), std::string("b:2"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text, "");
  EXPECT_THROW(parse_definition(*r), Error);
}

TEST(SpankDefinition, UserSysconfdirWinsOverPlugstackWhichWinsOverDefault) {
  const PluginArgs site{"/site/slurm-vm"};
  const auto system_dir = [](std::map<std::string, std::string> env, const PluginArgs& args) {
    return submission_config_dirs(env_of(std::move(env)), args).system;
  };
  EXPECT_EQ(system_dir({{"SLURM_VM_SYSCONFDIR", "/mine"}}, site), "/mine");
  EXPECT_EQ(system_dir({{"SLURM_VM_SYSCONFDIR", ""}}, site), "/site/slurm-vm");
  EXPECT_EQ(system_dir({}, site), "/site/slurm-vm");
  EXPECT_EQ(system_dir({}, PluginArgs{}), SLURM_VM_DEFAULT_SYSCONFDIR);
}

TEST(SpankDefinition, UserConfigurationIsTheOneTheCliReads) {
  const auto user_dir = [](std::map<std::string, std::string> env) {
    return submission_config_dirs(env_of(std::move(env)), PluginArgs{}).user;
  };
  EXPECT_EQ(user_dir({{"HOME", "/home/alice"}}), "/home/alice/.config/slurm-vm");
  EXPECT_EQ(user_dir({{"HOME", "/home/alice"}, {"SLURM_VM_USERCONFDIR", "/u"}}), "/u");
}

TEST(SpankDefinition, KnownSystemAndUserTemplatesPassAndAreCanonical) {
  const auto checked = check_definition({"mine,centos7-cloud:2", "--vm-template"},
                                        {kShadow / "system", kShadow / "user"});
  EXPECT_EQ(checked.def.to_string(), "mine:1,centos7-cloud:2");
  EXPECT_EQ(checked.def.vm_count(), 3u);
  // Each group's resource set, as the prolog gets it (here both the default).
  EXPECT_EQ(checked.resource_sets, "default,default");
}

TEST(SpankDefinition, UnknownTemplateNamesTheSourceAndTheTemplate) {
  const Error e = check_error("centos7-cloud:1,mine:2", {kShadow / "system", std::nullopt});
  EXPECT_EQ(e.kind(), ErrorKind::not_found);
  EXPECT_TRUE(starts_with(e, "--vm-template: unknown template \"mine\"")) << e.what();
}

TEST(SpankDefinition, SyntaxErrorNamesTheColumnBeforeAnyFileIsRead) {
  // The system directory does not exist: the syntax error must still be the one reported.
  const Error e = check_error("tiny:0", {"/nonexistent", std::nullopt});
  EXPECT_EQ(e.kind(), ErrorKind::config);
  EXPECT_TRUE(starts_with(e, "--vm-template: invalid cluster definition \"tiny:0\" at column 6: "
                             "count must be at least 1"))
      << e.what();
}

TEST(SpankDefinition, BrokenConfigurationIsReportedWithTheSource) {
  const Error e = check_error("a:1", {SLURM_VM_TEST_DATA "/config/bad/template-cycle", std::nullopt});
  EXPECT_EQ(e.kind(), ErrorKind::config);
  EXPECT_TRUE(starts_with(e, "--vm-template: ")) << e.what();
  EXPECT_NE(std::string(e.what()).find("templates.yaml"), std::string::npos) << e.what();
}

TEST(SpankDefinition, ParseOnlyReadsNoFile) {
  const DefinitionRequest r{"anything:2", "SLURM_VM_TEMPLATE"};
  EXPECT_EQ(parse_definition(r).to_string(), "anything:2");
  try {
    parse_definition({"x:y", "SLURM_VM_TEMPLATE"});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(starts_with(e, "SLURM_VM_TEMPLATE: invalid cluster definition")) << e.what();
  }
}
