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

TEST_F(ImageRepoTest, CopyWithinAndAcrossRepositoriesSharesOrCopiesLayers) {
  auto global = ImageRepo::open_or_create("global", dir_ / "global");
  auto user = ImageRepo::open_or_create("user", dir_ / "user");
  const auto g0 = global.import_file("centos", base_, "root");
  const auto g1 = global.add_layer("centos", g0, new_layer(global, g0), "root");
  const auto same = global.copy_image(global, g1, "centos-copy", "alice");
  EXPECT_EQ(same.revision, 0u);
  EXPECT_EQ(same.data_blobs, g1.data_blobs);  // the same layers, nothing copied
  const auto other = user.copy_image(global, g1, "mine", "alice");
  EXPECT_EQ(other.data_blobs, g1.data_blobs);
  EXPECT_EQ(other.owner, "alice");
  qemu_img({"check", "-q", user.top_layer(other).string()});  // the chain resolves in `user`
  EXPECT_THROW(user.copy_image(global, g0, "mine", "alice"), Error);  // exists
  EXPECT_TRUE(fs::is_empty(user.tmp_dir()));
}

TEST_F(ImageRepoTest, ResizeIsANewRevisionThatOnlyGrows) {
  auto repo = ImageRepo::open_or_create("user", dir_ / "repo");
  const auto r0 = repo.import_file("tiny", base_, "alice");
  EXPECT_EQ(repo.virtual_size(r0), 4u << 20);
  const auto r1 = repo.resize(r0, 64u << 20, "alice");
  EXPECT_EQ(r1.revision, 1u);
  EXPECT_EQ(r1.data_blobs.size(), 2u);
  EXPECT_EQ(repo.virtual_size(r1), 64u << 20);
  EXPECT_EQ(repo.virtual_size(*repo.find("tiny", 0u)), 4u << 20);  // revision 0 unchanged
  qemu_img({"check", "-q", repo.top_layer(r1).string()});
  try {
    repo.resize(r1, 1u << 20, "alice");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    EXPECT_THAT(e.what(), HasSubstr("an image only grows"));
  }
  EXPECT_TRUE(fs::is_empty(repo.tmp_dir()));
}

TEST(ImageSize, Parse) {
  EXPECT_EQ(parse_image_size("20G", 0), 20ull << 30);
  EXPECT_EQ(parse_image_size("512m", 0), 512ull << 20);
  EXPECT_EQ(parse_image_size("1048576", 0), 1048576u);
  EXPECT_EQ(parse_image_size("+1G", 4ull << 30), 5ull << 30);
  for (const char* bad : {"", "G", "-1G", "1.5G", "1GB", "+", "99999999999T", "0x10"}) {
    EXPECT_THROW(parse_image_size(bad, 0), Error) << bad;
  }
}

// Sizes on disk of every blob of the repository.
std::uintmax_t data_bytes(const fs::path& repo) {
  std::uintmax_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(repo / "data")) {
    struct stat st {};
    if (e.is_regular_file() && ::stat(e.path().c_str(), &st) == 0) n += static_cast<std::uintmax_t>(st.st_blocks) * 512;
  }
  return n;
}

TEST_F(ImageRepoTest, DeleteThenGcFreesTheSpaceAndKeepsWhatIsUsed) {
  auto repo = ImageRepo::open_or_create("user", dir_ / "repo");
  const auto keep = repo.import_file("keep", base_, "alice");
  const auto r0 = repo.import_file("drop", base_, "alice");  // the same content: one blob for both
  const auto r1 = repo.add_layer("drop", r0, new_layer(repo, r0), "alice");
  const auto before = data_bytes(dir_ / "repo");
  // A leftover of a crashed save (two hours old) and a save in progress (now).
  const auto stale = repo.tmp_dir() / "save-stale", fresh = repo.tmp_dir() / "save-now";
  std::ofstream(stale) << std::string(8192, 'x');
  std::ofstream(fresh) << "y";
  fs::last_write_time(stale, fs::file_time_type::clock::now() - std::chrono::hours(2));

  EXPECT_EQ(repo.remove("drop", std::nullopt), 2u);
  const auto report = repo.collect_garbage();
  EXPECT_EQ(report.blobs, 1u);  // drop's own layer; its base is keep's too
  EXPECT_EQ(report.tmp_files, 1u);
  EXPECT_GT(report.bytes, 8192u);
  EXPECT_LT(data_bytes(dir_ / "repo"), before);
  EXPECT_FALSE(fs::exists(repo.blob_path(r1.data_blobs.back())));
  EXPECT_TRUE(fs::exists(repo.top_layer(keep)));
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(fresh));
  qemu_img({"check", "-q", repo.top_layer(keep).string()});
  EXPECT_EQ(repo.collect_garbage().blobs, 0u);  // idempotent
}

TEST_F(ImageRepoTest, GcWaitsForAWriterAndSaysSo) {
  auto repo = ImageRepo::open_or_create("user", dir_ / "repo");
  repo.import_file("tiny", base_, "alice");
  {
    const auto writer = repo.write_guard();
    try {
      repo.collect_garbage(std::chrono::seconds(0));
      FAIL();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::timeout);
      EXPECT_THAT(e.what(), HasSubstr("in progress"));
    }
    const auto another_writer = repo.write_guard(std::chrono::seconds(0));  // writers share it
  }
  EXPECT_EQ(repo.collect_garbage(std::chrono::seconds(0)).blobs, 0u);
}

// pcocc's format 1: each revision is meta/<h[:2]>/<sha256("NAME\nREV")>, YAML.
TEST_F(ImageRepoTest, PcoccFormat1IsRefusedWithTheFixThenUpgradedByGc) {
  const fs::path repo_dir = dir_ / "old";
  auto scratch = ImageRepo::open_or_create("scratch", dir_ / "scratch");
  const auto rev = scratch.import_file("centos", base_, "root");
  const std::string blob = rev.data_blobs[0];
  fs::create_directories(repo_dir / "data" / blob.substr(0, 2));
  fs::copy_file(scratch.top_layer(rev), repo_dir / "data" / blob.substr(0, 2) / blob);
  const std::string meta_hash = sha256_file([&] {
    const auto f = dir_ / "meta-key";
    std::ofstream(f) << "centos\n0";
    return f;
  }());
  fs::create_directories(repo_dir / "meta" / meta_hash.substr(0, 2));
  std::ofstream(repo_dir / "meta" / meta_hash.substr(0, 2) / meta_hash)
      << "custom_meta: null\ndata_blobs: [" << blob << "]\nkind: vm\nname: centos\nowner: root\nrevision: 0\n"
      << "timestamp: 1546300800.25\n";
  std::ofstream(repo_dir / ".config") << "version: 1\n";

  try {
    ImageRepo::open("old", repo_dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_THAT(e.what(), HasSubstr("pcocc's format 1"));
    EXPECT_THAT(e.what(), HasSubstr("vm image repo gc old"));
  }
  auto old = ImageRepo::open_any_version("old", repo_dir);
  const auto report = old.collect_garbage();
  EXPECT_EQ(report.upgraded_revisions, 1u);
  EXPECT_EQ(report.blobs, 0u);  // the blob is referenced
  const auto upgraded = ImageRepo::open("old", repo_dir);
  const auto r = upgraded.find("centos", std::nullopt);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->data_blobs, std::vector<std::string>{blob});
  EXPECT_EQ(r->timestamp, 1546300800);
  EXPECT_FALSE(fs::exists(repo_dir / "meta.v1"));
  EXPECT_TRUE(fs::exists(repo_dir / "meta" / "centos@0"));
}

// `vm save --full`: the whole disk as one layer, the next revision of the image or a new one.
TEST_F(ImageRepoTest, StandaloneRevisionHasOneLayerAndNoBacking) {
  auto repo = ImageRepo::open_or_create("user", dir_ / "repo");
  const auto r0 = repo.import_file("tiny", base_, "alice");
  const auto r1 = repo.add_layer("tiny", r0, new_layer(repo, r0), "alice");
  const auto full = repo.tmp_dir() / "full";
  qemu_img({"convert", "-O", "qcow2", repo.top_layer(r1).string(), full.string()});  // flattened
  const auto r2 = repo.add_standalone("tiny", r1, full, "alice");
  EXPECT_EQ(r2.revision, 2u);
  ASSERT_EQ(r2.data_blobs.size(), 1u);
  const auto info = nlohmann::json::parse(qemu_img({"info", "--output=json", repo.top_layer(r2).string()}));
  EXPECT_FALSE(info.contains("backing-filename"));
  // As a new image (-d), and never over an existing one.
  const auto again = repo.tmp_dir() / "again";
  qemu_img({"convert", "-O", "qcow2", repo.top_layer(r1).string(), again.string()});
  EXPECT_EQ(repo.add_standalone("tiny-full", r1, again, "alice").revision, 0u);
  const auto third = repo.tmp_dir() / "third";
  qemu_img({"convert", "-O", "qcow2", repo.top_layer(r1).string(), third.string()});
  EXPECT_THROW(repo.add_standalone("tiny-full", std::nullopt, third, "alice"), Error);
  ::unlink(third.c_str());
  EXPECT_TRUE(fs::is_empty(repo.tmp_dir()));
}
