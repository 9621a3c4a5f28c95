// The resolved cluster (resolved_cluster.hpp): every template setting survives the trip through
// its JSON form, the overrides are applied once, and a file that is not a whole resolved
// cluster of the right definition is refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cluster_def.hpp"
#include "config/templates_loader.hpp"
#include "error.hpp"
#include "overrides.hpp"
#include "resolved_cluster.hpp"

using namespace slurmvm;
using namespace slurmvm::config;
using ::testing::HasSubstr;

namespace {

// Every key of templates.yaml set to a value other than its default, through inheritance.
constexpr const char* kTemplates = R"(
base:
  image: user:centos@3
  resource-set: big
  user-data:
    packages: [vim, "yes"]
    write_files: [{path: /etc/x, content: "a: 1"}]
  instance-id: fixed
  mount-points:
    home: {path: "%{env:HOME}", readonly: true}
    data: /scratch
  persistent-drives:
    - /var/a.raw
    - /var/b.raw: {mmp: cluster, cache: none, backup: /var/b.bak}
  custom-args: [-device, "virtio-rng-pci"]
  qemu-bin: /opt/qemu/bin/qemu-system-x86_64
  nic-model: e1000
  disk-model: virtio-scsi
  disk-cache: writeback
  machine-type: q35
  cpu-model: Skylake-Server
  emulator-cores: 2
  bind-vcpus: false
  full-node: true
  remote-display: spice
  kernel: /boot/vmlinuz
compute:
  inherits: base
  description: the compute nodes
other:
  resource-set: default
  user-data: /etc/ud.yaml
)";

Config config_with_templates() {
  Config cfg;
  static const NetworkMap kNoNetworks;
  cfg.resource_sets = parse_resource_sets(parse_yaml("default: {default: true}\nbig: {}\n", "resources.yaml"),
                                          kNoNetworks);
  const std::vector<Value> sys{parse_yaml(kTemplates, "templates.yaml")};
  cfg.system_templates = load_templates(sys, {}, cfg.resource_sets).system;
  cfg.repos.repos.push_back({"user", "%{homedir}/.slurm-vm/images", Origin::user, "/home/u/repos.yaml", 3});
  cfg.repos.cache_path = "/tmp/cache";
  return cfg;
}

std::string error_of(std::string_view text, std::string_view source = "templates.json") {
  try {
    parse_resolved_cluster(text, source);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(ResolvedCluster, EverySettingSurvivesItsJsonForm) {
  const Config cfg = config_with_templates();
  const auto resolved = resolve_cluster(ClusterDef::parse("compute:2,other:1,compute:1"), cfg, {});
  ASSERT_EQ(resolved.templates.size(), 2u);  // each template once, in the definition's order
  EXPECT_EQ(resolved.templates[0].name, "compute");
  EXPECT_EQ(resolved.templates[1].name, "other");

  const auto back = parse_resolved_cluster(to_json(resolved).dump(), "templates.json");
  EXPECT_EQ(back.definition, "compute:2,other:1,compute:1");
  for (const auto& name : {"compute", "other"}) {
    const auto before = resolved.get(name).settings();
    const auto after = back.get(name).settings();
    ASSERT_EQ(before.size(), after.size());
    for (std::size_t i = 0; i < before.size(); ++i) {
      EXPECT_EQ(before[i].value, after[i].value) << name << " " << before[i].key;
    }
  }
  EXPECT_EQ(back.get("compute").file, resolved.get("compute").file);
  ASSERT_EQ(back.repos.repos.size(), 1u);
  EXPECT_EQ(back.repos.repos[0].path, "%{homedir}/.slurm-vm/images");
  EXPECT_EQ(back.repos.repos[0].origin, Origin::user);
  EXPECT_EQ(back.repos.cache_path, "/tmp/cache");
  // Inline cloud-config keeps its YAML types: the quoted "yes" stays a string.
  const auto& ud = std::get<UserDataInline>(*back.get("compute").user_data).cloud_config;
  EXPECT_EQ(ud.at("packages").at(1), "yes");
}

TEST(ResolvedCluster, OverridesAreAppliedOnceToTheirTemplate) {
  const Config cfg = config_with_templates();
  const auto def = ClusterDef::parse("compute:1,other:1");
  const auto overrides = parse_overrides(def, {"other=/images/x.qcow2"}, {"extra=/data,readonly=true"}, "");
  const auto resolved = resolve_cluster(def, cfg, overrides);
  EXPECT_EQ(resolved.get("other").image, "/images/x.qcow2");
  EXPECT_EQ(resolved.get("compute").image, "user:centos@3");  // --image TPL= is that template's only
  for (const auto& t : resolved.templates) {
    EXPECT_TRUE(std::any_of(t.mount_points.begin(), t.mount_points.end(),
                            [](const MountPoint& m) { return m.tag == "extra" && m.readonly; }))
        << t.name;
  }
  // The configuration is not changed: the overrides live in the resolved copy only.
  EXPECT_EQ(cfg.get_template("other").image, std::nullopt);
}

TEST(ResolvedCluster, UnknownTemplateIsRefusedAtResolution) {
  EXPECT_THROW(resolve_cluster(ClusterDef::parse("nope:1"), config_with_templates(), {}), Error);
}

TEST(ResolvedCluster, AnythingButAWholeClusterIsRefused) {
  const auto good = to_json(resolve_cluster(ClusterDef::parse("other:2"), config_with_templates(), {}));
  EXPECT_EQ(error_of(good.dump()), "no error");
  EXPECT_THAT(error_of("{"), HasSubstr("templates.json: not a resolved cluster"));
  auto j = good;
  j["format"] = 2;
  EXPECT_THAT(error_of(j.dump()), HasSubstr("another version"));
  j = good;
  j["templates"][0]["settings"].erase("disk-model");
  EXPECT_THAT(error_of(j.dump()), HasSubstr("template other: no disk-model"));
  j = good;
  j["templates"][0]["settings"]["disk-model"] = "floppy";
  EXPECT_THAT(error_of(j.dump()), HasSubstr("disk-model: expected virtio, virtio-scsi or ide, got \"floppy\""));
  j = good;
  j["templates"][0]["settings"]["emulator-cores"] = -1;
  EXPECT_THAT(error_of(j.dump()), HasSubstr("emulator-cores: expected a non-negative integer"));
  j = good;
  j["templates"][0]["settings"]["mount-points"] = {{{"tag", "a,b"}, {"path", "/x"}, {"readonly", false}, {"type", "virtio-9p"}}};
  EXPECT_THAT(error_of(j.dump()), HasSubstr("mount tag"));
  j = good;
  j["templates"][0]["settings"]["colour"] = "blue";
  EXPECT_THAT(error_of(j.dump()), HasSubstr("unknown setting colour"));
  j = good;
  j["definition"] = "other:2,missing:1";
  EXPECT_THAT(error_of(j.dump()), HasSubstr("has no template missing"));
}
