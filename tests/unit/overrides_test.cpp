// Template overrides of the command line (src/common/overrides.hpp).
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include "cluster_def.hpp"
#include "error.hpp"
#include "overrides.hpp"

using namespace slurmvm;
using testing::HasSubstr;

namespace {
std::string usage_error(const std::string& def, std::vector<std::string> images, std::vector<std::string> mounts,
                        const std::string& user_data = "") {
  try {
    parse_overrides(ClusterDef::parse(def), images, mounts, user_data);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST(Overrides, ImageOfOneTemplateOnly) {
  const auto o = parse_overrides(ClusterDef::parse("master:1,compute:2"), {"compute=user:centos@3"}, {}, "");
  config::Template compute, master, child;
  compute.name = "compute";
  master.name = "master";
  master.image = "base";
  child.name = "compute-big";  // inherits compute's image in the configuration: not overridden
  child.image = "base";
  apply_overrides(compute, o);
  apply_overrides(master, o);
  apply_overrides(child, o);
  EXPECT_EQ(compute.image, "user:centos@3");
  EXPECT_EQ(master.image, "base");
  EXPECT_EQ(child.image, "base");
  // One template: TPL= may be left out.
  EXPECT_EQ(parse_overrides(ClusterDef::parse("tiny:2"), {"user:x"}, {}, "").at("images").at("tiny"), "user:x");
}

TEST(Overrides, MountsReplaceTheTemplatesOfTheSameTag) {
  const auto o = parse_overrides(ClusterDef::parse("a:1"), {}, {"home=/home/bob,readonly=true", "data=/d"}, "/u.yaml");
  config::Template t;
  t.name = "a";
  t.mount_points.push_back({"home", "%{homedir}", false, config::MountType::virtio_9p});
  apply_overrides(t, o);
  ASSERT_EQ(t.mount_points.size(), 2u);
  EXPECT_EQ(t.mount_points[0].path, "/home/bob");
  EXPECT_TRUE(t.mount_points[0].readonly);
  EXPECT_EQ(t.mount_points[1].tag, "data");
  ASSERT_TRUE(t.user_data);
  EXPECT_EQ(std::get<config::UserDataFile>(*t.user_data).path, "/u.yaml");
}

TEST(Overrides, MistakesNameTheOption) {
  EXPECT_THAT(usage_error("a:1,b:1", {"img"}, {}), HasSubstr("--image img: the cluster has several templates"));
  EXPECT_THAT(usage_error("a:1", {"c=img"}, {}), HasSubstr("has no template c"));
  EXPECT_THAT(usage_error("a:1", {"a="}, {}), HasSubstr("no image given"));
  EXPECT_THAT(usage_error("a:1", {}, {"home"}), HasSubstr("expected TAG=PATH"));
  EXPECT_THAT(usage_error("a:1", {}, {"home=rel/dir"}), HasSubstr("must be absolute"));
  EXPECT_THAT(usage_error("a:1", {}, {"home=/h,rw"}), HasSubstr("unknown setting \"rw\""));
  EXPECT_THAT(usage_error("a:1", {}, {}, "u.yaml"), HasSubstr("absolute path"));
  EXPECT_TRUE(parse_overrides(ClusterDef::parse("a:1"), {}, {}, "").empty());
}
