// Where configuration is read from: environment overrides, XDG rules, templates.d order.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>

#include "config/dirs.hpp"

using slurmvm::config::config_dirs_from;
using slurmvm::config::ConfigDirs;
using slurmvm::config::EnvLookup;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// Sets an environment variable for one test and restores the previous state.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST(ConfigDirs, DefaultsToTheCompiledInSystemDirAndXdgUserDir) {
  const ConfigDirs dirs = config_dirs_from(env_of({{"HOME", "/home/alice"}}));
  EXPECT_EQ(dirs.system, SLURM_VM_DEFAULT_SYSCONFDIR);
  EXPECT_EQ(dirs.user, "/home/alice/.config/slurm-vm");
}

TEST(ConfigDirs, XdgConfigHomeIsUsedWhenAbsolute) {
  EXPECT_EQ(config_dirs_from(env_of({{"HOME", "/home/a"}, {"XDG_CONFIG_HOME", "/cfg"}})).user,
            "/cfg/slurm-vm");
  EXPECT_EQ(config_dirs_from(env_of({{"HOME", "/home/a"}, {"XDG_CONFIG_HOME", "rel"}})).user,
            "/home/a/.config/slurm-vm");
  EXPECT_EQ(config_dirs_from(env_of({{"HOME", "/home/a"}, {"XDG_CONFIG_HOME", ""}})).user,
            "/home/a/.config/slurm-vm");
}

TEST(ConfigDirs, OverridesWinAndEmptyMeansUnset) {
  const ConfigDirs dirs = config_dirs_from(env_of({{"HOME", "/home/a"},
                                                   {"XDG_CONFIG_HOME", "/cfg"},
                                                   {"SLURM_VM_SYSCONFDIR", "/sys-dir"},
                                                   {"SLURM_VM_USERCONFDIR", "/user-dir"}}));
  EXPECT_EQ(dirs.system, "/sys-dir");
  EXPECT_EQ(dirs.user, "/user-dir");
  EXPECT_EQ(config_dirs_from(env_of({{"SLURM_VM_SYSCONFDIR", ""}, {"HOME", "/h"}})).system,
            SLURM_VM_DEFAULT_SYSCONFDIR);
}

TEST(ConfigDirs, ReadsTheProcessEnvironment) {
  const ScopedEnv sys("SLURM_VM_SYSCONFDIR", "/tmp/slurm-vm-test-sys");
  const ScopedEnv user("SLURM_VM_USERCONFDIR", "/tmp/slurm-vm-test-user");
  const ConfigDirs dirs = slurmvm::config::config_dirs_from_env();
  EXPECT_EQ(dirs.system, "/tmp/slurm-vm-test-sys");
  EXPECT_EQ(dirs.user, "/tmp/slurm-vm-test-user");
}

TEST(ConfigDirs, TemplateFilesAreTemplatesYamlThenTemplatesDSorted) {
  const std::filesystem::path dir =
      std::filesystem::path(testing::TempDir()) / "slurm-vm-config-dirs-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "templates.d" / "sub.yaml");
  for (const char* name : {"b.yaml", "a.yaml", ".hidden.yaml", "notes.txt", "c.yml"}) {
    std::ofstream(dir / "templates.d" / name) << "\n";
  }
  const auto files = slurmvm::config::template_files(dir);
  std::vector<std::string> names;
  for (const auto& f : files) names.push_back(f.lexically_relative(dir).string());
  // Directories named *.yaml are listed: reading them fails loudly rather than skipping them.
  EXPECT_EQ(names, (std::vector<std::string>{"templates.yaml", "templates.d/a.yaml",
                                             "templates.d/b.yaml", "templates.d/sub.yaml"}));
  std::filesystem::remove_all(dir);
  EXPECT_EQ(slurmvm::config::template_files(dir).size(), 1u);
}

// A pcocc user with no slurm-vm directory: ~/.pcocc (or $PCOCC_USER_CONF_DIR) is read, its
// templates.yaml and repos.yaml being the same format; once ~/.config/slurm-vm exists, it wins.
TEST(ConfigDirs, PcoccsUserDirectoryIsTheFallback) {
  namespace fs = std::filesystem;
  const fs::path home = fs::path(testing::TempDir()) / "slurm-vm-config-dirs-pcocc";
  fs::remove_all(home);
  fs::create_directories(home / ".pcocc");
  auto dirs = config_dirs_from(env_of({{"HOME", home.string()}}));
  EXPECT_EQ(dirs.user, home / ".pcocc");
  fs::create_directories(home / "pcocc-elsewhere");
  dirs = config_dirs_from(env_of({{"HOME", home.string()}, {"PCOCC_USER_CONF_DIR", (home / "pcocc-elsewhere").string()}}));
  EXPECT_EQ(dirs.user, home / "pcocc-elsewhere");
  // An explicit slurm-vm directory is taken as is, even when it does not exist.
  dirs = config_dirs_from(env_of({{"HOME", home.string()}, {"SLURM_VM_USERCONFDIR", (home / "none").string()}}));
  EXPECT_EQ(dirs.user, home / "none");
  fs::create_directories(home / ".config" / "slurm-vm");
  dirs = config_dirs_from(env_of({{"HOME", home.string()}}));
  EXPECT_EQ(dirs.user, home / ".config" / "slurm-vm");
  fs::remove_all(home);
}
