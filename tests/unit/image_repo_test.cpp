// Image repositories in pcocc's format (src/common/image_repo.hpp), with real files and the
// real qemu-img in a temporary directory: import, a saved layer on top, revisions that two
// saves cannot both take, a new image from another's layers, lookup across repositories.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "error.hpp"
#include "image_repo.hpp"
#include "subprocess.hpp"

namespace fs = std::filesystem;
using namespace slurmvm;
using testing::HasSubstr;

namespace {

std::string qemu_img(std::vector<std::string> args) {
  Command c;
  c.argv = {"/usr/bin/qemu-img"};
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  return run_checked(c).out;
}

class ImageRepoTest : public testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/qemu-img", X_OK) != 0) GTEST_SKIP() << "qemu-img is not installed";
    std::string tmpl = (fs::temp_directory_path() / "image-repo-test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    base_ = dir_ / "base.qcow2";
    qemu_img({"create", "-q", "-f", "qcow2", base_.string(), "4M"});
  }
  void TearDown() override {
    if (dir_.empty()) return;
    // Blobs are 0444: make the tree removable.
    for (auto& e : fs::recursive_directory_iterator(dir_)) fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::add);
    fs::remove_all(dir_);
  }
  // A new layer over `rev`'s top, as QEMU's drive-backup writes it (absolute backing path),
  // with 64 KiB of its own data (a different pattern each time).
  fs::path new_layer(const ImageRepo& repo, const ImageRevision& rev) {
    const fs::path layer = repo.tmp_dir() / ("layer" + std::to_string(n_++));
    qemu_img({"create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", repo.top_layer(rev).string(), layer.string()});
    Command c;
    c.argv = {"/usr/bin/qemu-io", "-c", fmt::format("write -P {} 0 64k", 0x40 + n_), layer.string()};
    run_checked(c);
    return layer;
  }
  fs::path dir_, base_;
  int n_ = 0;
};

}  // namespace

TEST(ImageRef, Parse) {
  const auto r = parse_image_ref("global:centos7@3");
  EXPECT_EQ(r.repo, "global");
  EXPECT_EQ(r.name, "centos7");
  EXPECT_EQ(r.revision, 3u);
  EXPECT_EQ(parse_image_ref("centos7").repo, "");
  EXPECT_FALSE(parse_image_ref("centos7").revision);
  EXPECT_EQ(parse_image_ref("user:x").to_string(), "user:x");
  for (const char* bad : {"", ":x", "a:", "x@", "x@-1", "x@y", "../x", "a b", "x/y"}) {
    EXPECT_THROW(parse_image_ref(bad), Error) << bad;
  }
}

// A user's repository holds guest host keys and user data: nobody else may read it (issue 11, L4).
TEST_F(ImageRepoTest, AUsersRepositoryIsTheirsAlone) {
  ::umask(022);
  ImageRepo::open_or_create("user", dir_ / "mine", ImageRepo::Visibility::owner_only);
  ImageRepo::open_or_create("site", dir_ / "site");
  for (const char* d : {"mine", "mine/data", "mine/meta", "mine/.tmp"}) {
    struct stat st{};
    ASSERT_EQ(::stat((dir_ / d).c_str(), &st), 0) << d;
    EXPECT_EQ(st.st_mode & 0777, 0700u) << d;
  }
  struct stat st{};
  ASSERT_EQ(::stat((dir_ / "site/data").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
}

TEST_F(ImageRepoTest, ImportThenSaveALayerThenLookUp) {
  auto repo = ImageRepo::open_or_create("user", dir_ / "repo");
  EXPECT_TRUE(fs::exists(dir_ / "repo/.config"));
  const auto r0 = repo.import_file("tiny", base_, "alice");
  EXPECT_EQ(r0.revision, 0u);
  ASSERT_EQ(r0.data_blobs.size(), 1u);
  struct stat st{};
  ASSERT_EQ(::stat(repo.top_layer(r0).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  EXPECT_THROW(repo.import_file("tiny", base_, "alice"), Error);  // exists

  const auto r1 = repo.add_layer("tiny", r0, new_layer(repo, r0), "alice");
  EXPECT_EQ(r1.revision, 1u);
  ASSERT_EQ(r1.data_blobs.size(), 2u);
  EXPECT_EQ(r1.data_blobs[0], r0.data_blobs[0]);
  // The layer's backing file is relative, as pcocc writes it, and resolves.
  const auto info = nlohmann::json::parse(qemu_img({"info", "--output=json", repo.top_layer(r1).string()}));
  EXPECT_EQ(info.at("backing-filename"), "../../data/" + r0.data_blobs[0].substr(0, 2) + "/" + r0.data_blobs[0]);
  qemu_img({"check", "-q", repo.top_layer(r1).string()});
  EXPECT_TRUE(fs::is_empty(repo.tmp_dir()));

  EXPECT_EQ(repo.find("tiny", std::nullopt)->revision, 1u);
  EXPECT_EQ(repo.find("tiny", 0u)->revision, 0u);
  EXPECT_FALSE(repo.find("tiny", 7u));
  EXPECT_EQ(repo.image_names(), std::vector<std::string>{"tiny"});
  // A meta file is pcocc's JSON.
  std::ifstream meta(dir_ / "repo/meta/tiny@1");
  const auto j = nlohmann::json::parse(meta);
  EXPECT_EQ(j.at("owner"), "alice");
  EXPECT_EQ(j.at("kind"), "vm");
}

TEST_F(ImageRepoTest, TwoSavesNeverTakeTheSameRevision) {
  auto repo = ImageRepo::open_or_create("user", dir_ / "repo");
  const auto r0 = repo.import_file("tiny", base_, "alice");
  // Two VMs booted from revision 0 both save: the second gets the next free number.
  const auto a = repo.add_layer("tiny", r0, new_layer(repo, r0), "alice");
  const auto b = repo.add_layer("tiny", r0, new_layer(repo, r0), "alice");
  EXPECT_EQ(a.revision, 1u);
  EXPECT_EQ(b.revision, 2u);
  EXPECT_NE(repo.find("tiny", 1u)->data_blobs.back(), repo.find("tiny", 2u)->data_blobs.back());
  EXPECT_EQ(repo.find("tiny", 2u)->data_blobs.size(), 2u);  // on revision 0, as the VM ran
}

TEST_F(ImageRepoTest, NewImageFromAnotherAcrossRepositoriesAndRemoval) {
  auto global = ImageRepo::open_or_create("global", dir_ / "global");
  auto user = ImageRepo::open_or_create("user", dir_ / "user");
  const auto g0 = global.import_file("centos", base_, "root");
  // vm save -d user:mine: the layers below come along, the new one goes on top.
  user.copy_blobs_from(global, g0);
  const auto layer = user.tmp_dir() / "layer";
  qemu_img({"create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", user.top_layer(g0).string(), layer.string()});
  const auto m0 = user.add_layer("mine", g0, layer, "alice");
  EXPECT_EQ(m0.revision, 0u);
  EXPECT_EQ(m0.data_blobs.size(), 2u);
  qemu_img({"check", "-q", user.top_layer(m0).string()});

  std::vector<ImageRepo> repos;
  repos.push_back(ImageRepo::open("user", dir_ / "user"));
  repos.push_back(ImageRepo::open("global", dir_ / "global"));
  EXPECT_EQ(find_image(repos, parse_image_ref("centos")).first->name(), "global");
  EXPECT_EQ(find_image(repos, parse_image_ref("mine")).first->name(), "user");
  try {
    find_image(repos, parse_image_ref("nope"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_THAT(e.what(), HasSubstr("image nope not found (looked in: user, global)"));
  }
  EXPECT_THROW(find_image(repos, parse_image_ref("other:centos")), Error);
  EXPECT_EQ(user.remove("mine", std::nullopt), 1u);
  EXPECT_TRUE(user.revisions("mine").empty());
  EXPECT_THROW(ImageRepo::open("none", dir_ / "none"), Error);
}
