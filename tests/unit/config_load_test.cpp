// load_config on whole directories: pcocc's example files load unchanged, and Config answers
// the CLI's questions (find, list, parent, default set).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/config.hpp"
#include "error.hpp"
#include "log.hpp"

using slurmvm::Error;
using slurmvm::ErrorKind;
using namespace slurmvm::config;

namespace {

const std::filesystem::path kPcocc = SLURM_VM_TEST_DATA "/config/pcocc";

const Config& pcocc_config() {
  static const Config config = load_config({kPcocc / "system", kPcocc / "user"});
  return config;
}

}  // namespace

TEST(ConfigLoad, PcoccNetworksLoadUnchanged) {
  const Config& c = pcocc_config();
  ASSERT_EQ(c.networks.size(), 6u);
  EXPECT_EQ(c.networks.at("nat-rssh").type_name(), "ethernet");
  EXPECT_EQ(c.networks.at("pv").type_name(), "ethernet");
  EXPECT_EQ(c.networks.at("ib").type_name(), "infiniband");
  EXPECT_EQ(c.networks.at("hosteth").type_name(), "bridged");
  EXPECT_EQ(c.networks.at("gpu").type_name(), "genericpci");
  EXPECT_EQ(c.networks.at("hostib").type_name(), "host-infiniband");
  const auto& nat = std::get<EthernetNetwork>(c.networks.at("nat-rssh").settings);
  EXPECT_EQ(nat.int_network.str(), "10.251.0.0/16");
  EXPECT_EQ(nat.ext_network.str(), "10.250.0.0/16");
  ASSERT_TRUE(nat.reverse_nat);
  EXPECT_EQ(nat.reverse_nat->max_host_port, 60322);
  EXPECT_EQ(std::get<EthernetNetwork>(c.networks.at("pv").settings).network_layer,
            NetworkLayer::l2);
  EXPECT_EQ(c.networks.at("ib").file, kPcocc / "system" / "networks.yaml");
  EXPECT_EQ(c.networks.at("ib").line, 7);
}

TEST(ConfigLoad, PcoccResourceSetsLoadUnchanged) {
  const Config& c = pcocc_config();
  ASSERT_EQ(c.resource_sets.size(), 2u);
  EXPECT_EQ(c.resource_sets.at("ib-cluster").networks,
            (std::vector<std::string>{"nat-rssh", "ib"}));
  ASSERT_NE(c.default_resource_set(), nullptr);
  EXPECT_EQ(c.default_resource_set()->name, "default");
}

TEST(ConfigLoad, PcoccTemplatesLoadUnchanged) {
  const Config& c = pcocc_config();
  const Template& t = c.get_template("mycentos");
  EXPECT_EQ(t.origin, Origin::user);
  EXPECT_EQ(t.parent, "centos7-cloud");
  EXPECT_EQ(t.parent_origin, Origin::system);
  EXPECT_EQ(t.image, "user:centos7@3");
  EXPECT_EQ(t.resource_set, "default");  // inherited
  EXPECT_EQ(t.emulator_cores, 1);
  EXPECT_EQ(t.disk_model, DiskModel::virtio_scsi);  // inherited
  EXPECT_EQ(t.nic_model, "e1000");                  // inherited
  EXPECT_EQ(t.description, "");                     // not inherited
  ASSERT_EQ(t.mount_points.size(), 1u);             // replaces the parent's, as in pcocc
  EXPECT_EQ(t.mount_points[0].path, "%{homedir}");
  ASSERT_EQ(t.persistent_drives.size(), 1u);
  EXPECT_EQ(t.persistent_drives[0].path, "/scratch/%{user}/data.raw");
  EXPECT_EQ(t.persistent_drives[0].mmp, Mmp::cluster);
  EXPECT_EQ(t.persistent_drives[0].cache, DiskCache::none);
  ASSERT_TRUE(t.user_data);
  EXPECT_EQ(std::get<UserDataInline>(*t.user_data).cloud_config,
            nlohmann::json::parse(R"({"packages": ["qemu-guest-agent"],
                                      "runcmd": ["systemctl start qemu-guest-agent"]})"));
  EXPECT_EQ(t.file, kPcocc / "user" / "templates.yaml");
  EXPECT_EQ(t.line, 2);

  const Template& base = c.system_templates.at("centos7-cloud");
  ASSERT_EQ(base.mount_points.size(), 1u);
  EXPECT_EQ(base.mount_points[0].tag, "scratch");
  EXPECT_EQ(base.custom_args, (std::vector<std::string>{"-cdrom", "/path/to/my-iso"}));
}

TEST(ConfigLoad, PcoccReposLoadUnchanged) {
  const Config& c = pcocc_config();
  ASSERT_EQ(c.repos.repos.size(), 2u);
  EXPECT_EQ(c.repos.repos[0].name, "user");
  EXPECT_EQ(c.repos.repos[1].path, "/var/lib/pcocc/images");
  EXPECT_EQ(c.repos.cache_path, "%{homedir}/.pcocc/cache");
  EXPECT_EQ(c.site.store.type, StoreType::file);  // no slurm-vm.yaml: defaults
}

TEST(ConfigLoad, UserTemplatesShadowSystemOnes) {
  const std::filesystem::path dir = SLURM_VM_TEST_DATA "/config/shadow";
  const Config c = load_config({dir / "system", dir / "user"});
  const Template* shadow = c.find_template("centos7-cloud");
  ASSERT_NE(shadow, nullptr);
  EXPECT_EQ(shadow->origin, Origin::user);
  EXPECT_EQ(shadow->description, "my CentOS 7");
  EXPECT_EQ(shadow->image, "global:centos7-cloud");
  EXPECT_EQ(shadow->file, dir / "user" / "templates.d" / "10-shadow.yaml");
  const Template* parent = c.parent_of(*shadow);
  ASSERT_NE(parent, nullptr);
  EXPECT_EQ(parent->origin, Origin::system);
  EXPECT_EQ(parent->description, "CentOS 7 cloud image");
  EXPECT_EQ(c.parent_of(*parent), nullptr);
  // A user template's parent is looked up among user templates first.
  const Template& mine = c.get_template("mine");
  EXPECT_EQ(c.parent_of(mine), shadow);
  EXPECT_EQ(mine.cpu_model, "host");
  std::vector<std::string> user;
  for (const Template* t : c.templates_of(Origin::user)) user.push_back(t->name);
  EXPECT_EQ(user, (std::vector<std::string>{"centos7-cloud", "mine"}));
}

TEST(ConfigLoad, UnknownTemplatesAreNotFound) {
  const Config& c = pcocc_config();
  EXPECT_EQ(c.find_template("nope"), nullptr);
  try {
    c.get_template("nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_STREQ(e.what(), "template \"nope\" not found (`vm template list` shows the templates)");
  }
}

TEST(ConfigLoad, SystemOnlyAndEmptyDirectories) {
  const Config system_only = load_config({kPcocc / "system", std::nullopt});
  EXPECT_TRUE(system_only.user_templates.empty());
  EXPECT_EQ(system_only.system_templates.size(), 1u);

  const Config empty = load_config({"/nonexistent/slurm-vm", "/nonexistent/slurm-vm-user"});
  EXPECT_TRUE(empty.networks.empty());
  EXPECT_TRUE(empty.system_templates.empty());
  EXPECT_TRUE(empty.repos.repos.empty());
  EXPECT_EQ(empty.site.store.path, "/var/lib/slurm-vm/store");
}

// pcocc's site batch.yaml without a slurm-vm.yaml: its batch-args (partition, account) would be
// lost without a word, so loading is refused, naming both files; with slurm-vm.yaml, it is read.
TEST(ConfigLoad, PcoccsBatchYamlAloneIsRefused) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(testing::TempDir()) / "slurm-vm-config-batch-yaml";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "batch.yaml") << "type: slurm\nsettings:\n  batch-args: ['-p', 'vm']\n";
  try {
    load_config({dir, std::nullopt});
    ADD_FAILURE() << "batch.yaml alone was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("batch.yaml is not read by slurm-vm: move its batch-args"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr((dir / "slurm-vm.yaml").string()));
  }
  std::ofstream(dir / "slurm-vm.yaml") << "batch-args: ['-p', 'vm']\n";
  EXPECT_EQ(load_config({dir, std::nullopt}).site.batch_args, (std::vector<std::string>{"-p", "vm"}));
  fs::remove_all(dir);
}

// A pcocc key slurm-vm accepts without acting on it is never ignored silently: a warning names
// the file, the line and the key, and why; once per process, however often the file is loaded.
TEST(ConfigLoad, PcoccKeysWithNoEffectAreWarnedOnce) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(testing::TempDir()) / "slurm-vm-config-no-effect";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "networks.yaml")
      << "nat:\n  type: ethernet\n  settings:\n    dev-prefix: nat\n    network-layer: L3\n"
         "    int-network: 10.250.0.0/16\n    ext-network: 10.251.0.0/16\n    mac-start-offset: 16\n"
         "    gateway: local-nat\n"
         "lan: {type: bridged, settings: {host-bridge: br0, tap-prefix: lantap}}\n"
         "lan2: {type: bridged, settings: {host-bridge: br1}}\n";
  std::vector<std::string> warnings;
  slurmvm::set_log_sink([&](slurmvm::LogLevel level, std::string_view m) {
    if (level == slurmvm::LogLevel::warning) warnings.emplace_back(m);
  });
  load_config({dir, std::nullopt});
  load_config({dir, std::nullopt});
  slurmvm::set_log_sink(slurmvm::stderr_sink("unit_tests"));
  fs::remove_all(dir);
  ASSERT_EQ(warnings.size(), 3u) << ::testing::PrintToString(warnings);
  const std::string file = (dir / "networks.yaml").string();
  EXPECT_THAT(warnings[0], ::testing::StartsWith(file + ":8: nat.settings.mac-start-offset: accepted for pcocc "
                                                        "compatibility but has no effect: slurm-vm derives"));
  EXPECT_THAT(warnings[1], ::testing::StartsWith(file + ":9: nat.settings.gateway: accepted"));
  EXPECT_THAT(warnings[2], ::testing::StartsWith(file + ":10: lan.settings.tap-prefix: accepted"));
}
