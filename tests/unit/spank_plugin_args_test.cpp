// The plugstack.conf arguments of spank_vm.so: strict, every mistake named.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "plugin_args.hpp"

using slurmvm::Error;
using slurmvm::ErrorKind;
using slurmvm::spank::parse_plugin_args;
using slurmvm::spank::PluginArgs;

namespace {

PluginArgs parse(std::vector<std::string_view> args) { return parse_plugin_args(args); }

// The message of the Error that parsing `args` throws ("" if it does not throw).
std::string error_of(std::vector<std::string_view> args) {
  try {
    parse_plugin_args(args);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

}  // namespace

TEST(SpankPluginArgs, NoArgumentsMeansDefaults) {
  EXPECT_FALSE(parse({}).sysconfdir.has_value());
}

TEST(SpankPluginArgs, SysconfdirIsAnAbsolutePathNormalised) {
  EXPECT_EQ(parse({"sysconfdir=/etc/slurm-vm"}).sysconfdir, "/etc/slurm-vm");
  EXPECT_EQ(parse({"sysconfdir=/etc//slurm-vm/./x/.."}).sysconfdir, "/etc/slurm-vm/");
}

TEST(SpankPluginArgs, UnknownKeyIsRefusedAndTheKnownOnesListed) {
  EXPECT_EQ(error_of({"sysconfdir=/etc/slurm-vm", "sysconfidr=/etc"}),
            "plugstack.conf argument \"sysconfidr=/etc\": unknown key \"sysconfidr\" "
            "(accepted: sysconfdir)");
}

TEST(SpankPluginArgs, ArgumentWithoutKeyValueIsRefused) {
  EXPECT_NE(error_of({"/etc/slurm-vm"}).find("\"/etc/slurm-vm\": not KEY=VALUE"),
            std::string::npos);
  EXPECT_NE(error_of({"=/etc"}).find("not KEY=VALUE"), std::string::npos);
}

TEST(SpankPluginArgs, KeysAreCaseSensitive) {
  EXPECT_NE(error_of({"SYSCONFDIR=/etc"}).find("unknown key \"SYSCONFDIR\""), std::string::npos);
}

TEST(SpankPluginArgs, RepeatedKeyIsRefused) {
  EXPECT_NE(error_of({"sysconfdir=/a", "sysconfdir=/a"}).find("given twice"), std::string::npos);
}

TEST(SpankPluginArgs, EmptyOrRelativePathIsRefused) {
  EXPECT_NE(error_of({"sysconfdir="}).find("the path is empty"), std::string::npos);
  EXPECT_NE(error_of({"sysconfdir=etc/slurm-vm"}).find("must be absolute"), std::string::npos);
}
