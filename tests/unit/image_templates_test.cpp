// pcocc's automatic templates (src/common/image_templates.hpp): a repository image named in a
// cluster definition with no template of its name boots on the default resource set; a real
// template always wins; no default resource set, no automatic template. Real repositories in a
// temporary directory, the real qemu-img; and the SPANK plugin's submission check, which must
// accept what `vm alloc` accepts.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cluster_def.hpp"
#include "config/config.hpp"
#include "definition.hpp"
#include "error.hpp"
#include "image_repo.hpp"
#include "image_templates.hpp"
#include "subprocess.hpp"

namespace fs = std::filesystem;
using namespace slurmvm;

namespace {

class ImageTemplatesTest : public testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/qemu-img", X_OK) != 0) GTEST_SKIP() << "qemu-img is not installed";
    std::string tmpl = (fs::temp_directory_path() / "image-templates-test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "etc");
    write("etc/repos.yaml", "repos:\n  - {name: site, path: " + (dir_ / "repo").string() + "}\n");
    write("etc/templates.yaml", "named:\n  image: site:centos\n  resource-set: small\n");
    const fs::path file = dir_ / "disk.qcow2";
    Command c;
    c.argv = {"/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", file.string(), "1M"};
    run_checked(c);
    auto repo = ImageRepo::open_or_create("site", dir_ / "repo");
    for (const char* name : {"myimage", "named"}) repo.import_file(name, file, "alice");
  }
  void TearDown() override {
    if (dir_.empty()) return;
    for (auto& e : fs::recursive_directory_iterator(dir_)) fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::add);
    fs::remove_all(dir_);
  }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  void resources(bool with_default) {
    write("etc/resources.yaml", std::string("small: {networks: []}\nbig: {networks: []") +
                                    (with_default ? ", default: true" : "") + "}\n");
  }
  config::Config load() { return config::load_config({dir_ / "etc", std::nullopt}); }

  fs::path dir_;
};

TEST_F(ImageTemplatesTest, AnImageWithNoTemplateBootsOnTheDefaultResourceSet) {
  resources(true);
  auto cfg = load();
  const auto def = ClusterDef::parse("myimage:2,named");
  add_image_templates(cfg, def);
  const config::Template& t = cfg.get_template("myimage");
  EXPECT_EQ(t.image, "site:myimage");
  EXPECT_EQ(t.resource_set, "big");
  EXPECT_NO_THROW(def.check_templates([&](std::string_view n) { return cfg.find_template(n) != nullptr; }));
}

TEST_F(ImageTemplatesTest, ARealTemplateOfTheSameNameWins) {
  resources(true);
  auto cfg = load();
  add_image_templates(cfg, ClusterDef::parse("named:1"));
  EXPECT_EQ(cfg.get_template("named").image, "site:centos");
  EXPECT_EQ(cfg.get_template("named").resource_set, "small");
}

TEST_F(ImageTemplatesTest, NoDefaultResourceSetMeansNoAutomaticTemplate) {
  resources(false);
  auto cfg = load();
  add_image_templates(cfg, ClusterDef::parse("myimage:2"));
  EXPECT_EQ(cfg.find_template("myimage"), nullptr);
}

TEST_F(ImageTemplatesTest, ANameThatIsNeitherStaysUnknown) {
  resources(true);
  auto cfg = load();
  const auto def = ClusterDef::parse("nosuch:1");
  add_image_templates(cfg, def);
  EXPECT_EQ(cfg.find_template("nosuch"), nullptr);
  EXPECT_THROW(def.check_templates([&](std::string_view n) { return cfg.find_template(n) != nullptr; }), Error);
}

TEST_F(ImageTemplatesTest, TheSubmissionCheckAcceptsAnImageName) {
  resources(true);
  const auto checked = spank::check_definition({"myimage:2", "--vm-template"}, {dir_ / "etc", std::nullopt});
  EXPECT_EQ(checked.def.to_string(), "myimage:2");
  EXPECT_EQ(checked.resource_sets, "big");
}

}  // namespace
