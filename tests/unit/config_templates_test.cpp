// templates.yaml: keys and defaults, inheritance within and across levels, shadowing, cycles,
// resource sets, and where every resolved setting comes from.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/templates_loader.hpp"
#include "templates_fixture.hpp"
#include "error.hpp"

using slurmvm::Error;
using namespace slurmvm::config;
using namespace slurmvm::test;

namespace {

const ResolvedSetting& setting(const std::vector<ResolvedSetting>& all, std::string_view key) {
  for (const auto& s : all) {
    if (s.key == key) return s;
  }
  throw std::out_of_range(std::string(key));
}

}  // namespace

TEST(ConfigTemplates, SettingsComeInTheDocumentedOrder) {
  const std::vector<std::string_view> expected = {
      "image",          "resource-set", "inherits",          "description",    "user-data",
      "instance-id",    "mount-points", "persistent-drives", "custom-args",    "qemu-bin",
      "nic-model",      "disk-model",   "disk-cache",        "machine-type",   "cpu-model",
      "emulator-cores", "bind-vcpus",   "full-node",         "remote-display", "kernel",
      "ready-marker"};
  const auto keys = template_setting_keys();
  EXPECT_EQ(std::vector<std::string_view>(keys.begin(), keys.end()), expected);
  const auto settings = load("t: {}").system.at("t").settings();
  ASSERT_EQ(settings.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(settings[i].key, expected[i]);
}

TEST(ConfigTemplates, Defaults) {
  const Template t = load("t:\n").system.at("t");
  EXPECT_EQ(t.name, "t");
  EXPECT_EQ(t.origin, Origin::system);
  EXPECT_EQ(t.file, "sys.yaml");
  EXPECT_EQ(t.line, 1);
  EXPECT_FALSE(t.parent);
  EXPECT_FALSE(t.image);
  EXPECT_EQ(t.resource_set, "default");  // the default set
  EXPECT_EQ(t.description, "");
  EXPECT_FALSE(t.user_data);
  EXPECT_FALSE(t.instance_id);
  EXPECT_TRUE(t.mount_points.empty());
  EXPECT_TRUE(t.persistent_drives.empty());
  EXPECT_TRUE(t.custom_args.empty());
  EXPECT_EQ(t.qemu_bin, "qemu-system-x86_64");
  EXPECT_EQ(t.nic_model, "virtio-net");
  EXPECT_EQ(t.disk_model, DiskModel::virtio);
  EXPECT_EQ(t.disk_cache, DiskCache::unsafe);
  EXPECT_EQ(t.machine_type, "pc");
  EXPECT_FALSE(t.cpu_model);
  EXPECT_EQ(t.emulator_cores, 0);
  EXPECT_TRUE(t.bind_vcpus);
  EXPECT_FALSE(t.full_node);
  EXPECT_FALSE(t.remote_display);
  EXPECT_FALSE(t.kernel);
  for (const auto& s : t.settings()) {
    EXPECT_TRUE(s.is_default) << s.key;
    EXPECT_FALSE(s.inherited) << s.key;
    EXPECT_EQ(s.defined_in, "") << s.key;
  }
  const auto settings = t.settings();
  EXPECT_EQ(setting(settings, "resource-set").value, "default");
  EXPECT_EQ(setting(settings, "image").value, nullptr);
  EXPECT_EQ(setting(settings, "disk-cache").value, "unsafe");
  EXPECT_EQ(setting(settings, "bind-vcpus").value, true);
  EXPECT_EQ(setting(settings, "mount-points").value, nlohmann::json::array());
}

TEST(ConfigTemplates, EveryKeyIsRead) {
  const Template t = load(R"(
t:
  image: repo:img@2
  resource-set: big
  description: everything
  user-data: /home/a/cloud.yaml
  instance-id: i-1
  mount-points: {home: {path: /home, readonly: true, type: virtio-fs}, old: /old}
  persistent-drives: [/d/a.raw, {/d/b.raw: {mmp: cluster, cache: none, backup: repo:b}}, {/d/c.raw: {mmp: no}}]
  custom-args: [-cdrom, "%{homedir}/x.iso"]
  qemu-bin: /opt/qemu/bin/qemu-system-x86_64
  nic-model: e1000
  disk-model: virtio-scsi
  disk-cache: writethrough
  machine-type: q35
  cpu-model: qemu64
  emulator-cores: 2
  bind-vcpus: no
  full-node: yes
  remote-display: spice
  kernel: /boot/vmlinuz
)")
                         .system.at("t");
  EXPECT_EQ(t.image, "repo:img@2");
  EXPECT_EQ(t.resource_set, "big");
  EXPECT_EQ(t.description, "everything");
  ASSERT_TRUE(t.user_data);
  EXPECT_EQ(std::get<UserDataFile>(*t.user_data).path, "/home/a/cloud.yaml");
  EXPECT_EQ(t.instance_id, "i-1");
  ASSERT_EQ(t.mount_points.size(), 2u);
  EXPECT_EQ(t.mount_points[0].tag, "home");
  EXPECT_TRUE(t.mount_points[0].readonly);
  EXPECT_EQ(t.mount_points[0].type, MountType::virtio_fs);
  EXPECT_EQ(t.mount_points[1].path, "/old");
  EXPECT_EQ(t.mount_points[1].type, MountType::virtio_9p);
  ASSERT_EQ(t.persistent_drives.size(), 3u);
  EXPECT_EQ(t.persistent_drives[0].mmp, Mmp::yes);
  EXPECT_EQ(t.persistent_drives[0].cache, DiskCache::writeback);
  EXPECT_EQ(t.persistent_drives[1].mmp, Mmp::cluster);
  EXPECT_EQ(t.persistent_drives[1].cache, DiskCache::none);
  EXPECT_EQ(t.persistent_drives[1].backup, "repo:b");
  EXPECT_EQ(t.persistent_drives[2].mmp, Mmp::no);
  EXPECT_EQ(t.custom_args, (std::vector<std::string>{"-cdrom", "%{homedir}/x.iso"}));
  EXPECT_EQ(t.qemu_bin, "/opt/qemu/bin/qemu-system-x86_64");
  EXPECT_EQ(t.nic_model, "e1000");
  EXPECT_EQ(t.disk_model, DiskModel::virtio_scsi);
  EXPECT_EQ(t.disk_cache, DiskCache::writethrough);
  EXPECT_EQ(t.machine_type, "q35");
  EXPECT_EQ(t.cpu_model, "qemu64");
  EXPECT_EQ(t.emulator_cores, 2);
  EXPECT_FALSE(t.bind_vcpus);
  EXPECT_TRUE(t.full_node);
  EXPECT_EQ(t.remote_display, RemoteDisplay::spice);
  EXPECT_EQ(t.kernel, "/boot/vmlinuz");

  const auto settings = t.settings();
  EXPECT_EQ(setting(settings, "mount-points").value,
            nlohmann::json::parse(
                R"([{"tag": "home", "path": "/home", "readonly": true, "type": "virtio-fs"},
                                      {"tag": "old", "path": "/old", "readonly": false, "type": "virtio-9p"}])"));
  EXPECT_EQ(setting(settings, "persistent-drives").value[1],
            nlohmann::json::parse(
                R"({"path": "/d/b.raw", "mmp": "cluster", "cache": "none", "backup": "repo:b"})"));
  EXPECT_EQ(setting(settings, "disk-model").value, "virtio-scsi");
  EXPECT_EQ(setting(settings, "remote-display").value, "spice");
  EXPECT_EQ(setting(settings, "emulator-cores").value, 2);
  const ResolvedSetting& cores = setting(settings, "emulator-cores");
  EXPECT_EQ(cores.defined_in, "t");
  EXPECT_EQ(cores.file, "sys.yaml");
  EXPECT_EQ(cores.line, 17);
  EXPECT_FALSE(cores.is_default);
  EXPECT_FALSE(cores.inherited);
}

TEST(ConfigTemplates, InlineUserDataKeepsCloudInitTypes) {
  const Template t = load(
                         "t:\n  user-data: {packages: [qemu-guest-agent], package_upgrade: yes, "
                         "write_files: [{path: /x, permissions: '0644'}]}\n")
                         .system.at("t");
  ASSERT_TRUE(t.user_data);
  const nlohmann::json expected = nlohmann::json::parse(
      R"({"packages": ["qemu-guest-agent"], "package_upgrade": true,
          "write_files": [{"path": "/x", "permissions": "0644"}]})");
  EXPECT_EQ(std::get<UserDataInline>(*t.user_data).cloud_config, expected);
  EXPECT_EQ(setting(t.settings(), "user-data").value, expected);
}

TEST(ConfigTemplates, InheritanceAcrossLevels) {
  const TemplateSet set = load(
      "base:\n"
      "  image: global:centos\n"
      "  resource-set: big\n"
      "  description: the base\n"
      "  emulator-cores: 2\n"
      "mid:\n"
      "  inherits: base\n"
      "  custom-args: [-nographic]\n",
      "mine:\n"
      "  inherits: mid\n"
      "  image: user:centos@3\n");
  const Template& t = set.user.at("mine");
  EXPECT_EQ(t.origin, Origin::user);
  EXPECT_EQ(t.parent, "mid");
  EXPECT_EQ(t.parent_origin, Origin::system);
  EXPECT_EQ(t.image, "user:centos@3");
  EXPECT_EQ(t.resource_set, "big");
  EXPECT_EQ(t.emulator_cores, 2);
  EXPECT_EQ(t.custom_args, std::vector<std::string>{"-nographic"});
  EXPECT_EQ(t.description, "");  // not inherited

  const auto settings = t.settings();
  const ResolvedSetting& image = setting(settings, "image");
  EXPECT_EQ(image.defined_in, "mine");
  EXPECT_FALSE(image.inherited);
  EXPECT_EQ(image.file, "user.yaml");
  const ResolvedSetting& cores = setting(settings, "emulator-cores");
  EXPECT_EQ(cores.defined_in, "base");
  EXPECT_TRUE(cores.inherited);
  EXPECT_FALSE(cores.is_default);
  EXPECT_EQ(cores.file, "sys.yaml");
  EXPECT_EQ(cores.line, 5);
  const ResolvedSetting& description = setting(settings, "description");
  EXPECT_TRUE(description.is_default);
  EXPECT_EQ(description.defined_in, "");
  const ResolvedSetting& inherits = setting(settings, "inherits");
  EXPECT_EQ(inherits.value, "mid");
  EXPECT_FALSE(inherits.inherited);
  // mid's own `inherits` is not passed down as mine's.
  EXPECT_EQ(set.system.at("mid").description, "");
  EXPECT_EQ(set.system.at("base").description, "the base");
}

TEST(ConfigTemplates, UserTemplatesShadowAndMayExtendTheSystemOnes) {
  const TemplateSet set = load("c7: {image: global:c7, nic-model: e1000}\nother: {inherits: c7}\n",
                               "c7: {inherits: c7, image: user:c7}\n");
  const Template& user = set.user.at("c7");
  EXPECT_EQ(user.parent_origin, Origin::system);
  EXPECT_EQ(user.image, "user:c7");
  EXPECT_EQ(user.nic_model, "e1000");
  // A system template's parent is always the system one, whatever the user defines.
  EXPECT_EQ(set.system.at("other").image, "global:c7");
}

TEST(ConfigTemplates, UserParentsAreFoundBeforeSystemOnes) {
  const TemplateSet set = load("b: {nic-model: sys}\n", "b: {nic-model: usr}\na: {inherits: b}\n");
  EXPECT_EQ(set.user.at("a").parent_origin, Origin::user);
  EXPECT_EQ(set.user.at("a").nic_model, "usr");
}

TEST(ConfigTemplates, EmptyValuesRestoreDefaultsAndStopInheritance) {
  const TemplateSet set = load(
      "p: {image: x, mount-points: {h: /home}, emulator-cores: 3, resource-set: big}\n"
      "a: {inherits: p, image: false, mount-points: , emulator-cores: }\n"
      "b: {inherits: p, image: , resource-set: }\n");
  const Template& a = set.system.at("a");
  EXPECT_FALSE(a.image);
  EXPECT_TRUE(a.mount_points.empty());
  EXPECT_EQ(a.emulator_cores, 0);
  EXPECT_EQ(a.resource_set, "big");
  const auto settings = a.settings();
  const ResolvedSetting& image = setting(settings, "image");
  EXPECT_TRUE(image.is_default);
  EXPECT_EQ(image.defined_in, "a");
  EXPECT_EQ(image.value, nullptr);
  const Template& b = set.system.at("b");
  EXPECT_FALSE(b.image);
  EXPECT_EQ(b.resource_set, "default");
}

TEST(ConfigTemplates, Cycles) {
  EXPECT_EQ(error_of("a: {inherits: b}\nb: {inherits: c}\nc: {inherits: a}\n"),
            "sys.yaml:1: a.inherits: inheritance cycle: a -> b -> c -> a");
  EXPECT_EQ(error_of("x: {inherits: a}\na: {inherits: b}\nb: {inherits: a}\n"),
            "sys.yaml:2: a.inherits: inheritance cycle: a -> b -> a");
  EXPECT_EQ(error_of("a: {inherits: a}\n"), "sys.yaml:1: a.inherits: inheritance cycle: a -> a");
  EXPECT_EQ(error_of("", "a: {inherits: b}\nb: {inherits: a}\n"),
            "user.yaml:1: a.inherits: inheritance cycle: a -> b -> a");
  EXPECT_EQ(error_of("", "a: {inherits: a}\n"),
            "user.yaml:1: a.inherits: a template cannot inherit from itself (a user template can "
            "extend the system template it shadows, but there is no system template \"a\")");
}

TEST(ConfigTemplates, Parents) {
  EXPECT_EQ(error_of("a: {inherits: nope}\n"), "sys.yaml:1: a.inherits: unknown template \"nope\"");
  EXPECT_EQ(error_of("a: {inherits: u}\n", "u: {}\n"),
            "sys.yaml:1: a.inherits: \"u\" is a user template; system templates can only inherit "
            "from system templates");
  EXPECT_EQ(error_of("a: {inherits: [b]}\n"),
            "sys.yaml:1: a.inherits: expected a non-empty string, got a list");
}

TEST(ConfigTemplates, NamesAndDuplicates) {
  EXPECT_EQ(error_of("_x: {}\n"), "sys.yaml:1: _x: template names starting with '_' are reserved");
  EXPECT_EQ(error_of("'a:b': {}\n"),
            "sys.yaml:1: \"a:b\": invalid template name (expected a letter, then letters, digits, "
            "'_', '-' or '.')");
  EXPECT_EQ(error_of("a: {}\nb: {}\na: {}\n"),
            "sys.yaml:3: a: duplicate key, first defined at sys.yaml:1");
  EXPECT_NO_THROW(load("centos-7.9: {}\n"));

  const std::vector<Value> two_files{parse_yaml("a: {}\n", "templates.yaml"),
                                     parse_yaml("\nb: {}\na: {}\n", "templates.d/x.yaml")};
  EXPECT_THAT(
      [&] { load_templates(two_files, {}, resource_sets()); },
      testing::ThrowsMessage<Error>(testing::StrEq(
          "templates.d/x.yaml:3: a: duplicate template, first defined at templates.yaml:1")));
  EXPECT_THAT(
      [&] { load_templates({}, two_files, resource_sets()); },
      testing::ThrowsMessage<Error>(testing::StrEq(
          "templates.d/x.yaml:3: a: duplicate template, first defined at templates.yaml:1")));
}

TEST(ConfigTemplates, ResourceSets) {
  const ResourceSetMap no_default = resource_sets("big: {}\n");
  EXPECT_EQ(
      error_of("a: {image: x}\n", "", no_default),
      "sys.yaml:1: a: no resource-set, and resources.yaml has no default set (`default: true`)");
  EXPECT_EQ(error_of("p: {resource-set: huge}\nc: {inherits: p}\n"),
            "sys.yaml:1: p.resource-set: unknown resource set \"huge\" (defined: big, default)");
  EXPECT_EQ(
      error_of("", "c: {resource-set: huge}\n", {}),
      "user.yaml:1: c.resource-set: unknown resource set \"huge\" (resources.yaml defines none)");
}
