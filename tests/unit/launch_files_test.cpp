// What vm-launch reads and writes on disk: the prolog's network map, the job and VM
// directories, atomic files, image resolution (paths, legacy directories, repositories).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "error.hpp"
#include "image_repo.hpp"
#include "launch/image.hpp"
#include "launch/job_dir.hpp"
#include "launch/network_map.hpp"
#include "launch/vm_inputs.hpp"
#include "launch/vm_substitutions.hpp"

using slurmvm::Error;
using slurmvm::ErrorKind;
using slurmvm::make_private_dir;
using slurmvm::read_file;
using namespace slurmvm::launch;
using testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "launch_files.XXXXXX").string();
    EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

unsigned mode_of(const fs::path& p) {
  struct stat st{};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

constexpr const char* kMap = R"({
  "network_id": 43,
  "vms": {
    "0": {"resource_set": "cluster", "ssh_port": 40022, "nics": [
           {"network": "nat", "kind": "L3", "tap": "svm2a.0", "mac": "52:54:00:02:b0:00", "ip": "10.128.42.2",
            "prefix": 20, "gateway": "10.128.42.1", "mtu": 1450},
           {"network": "pv", "kind": "L2", "tap": "svm2a.1000", "mac": "52:54:01:02:b0:00", "mtu": 1450},
           {"network": "lan", "kind": "bridged", "tap": "svm2a.2000", "mac": "42:00:00:2a:20:00"}]},
    "3": {"resource_set": "private", "ssh_port": null, "nics": [
           {"network": "pv", "kind": "L2", "tap": "svm2a.3", "mac": "52:54:01:02:b0:03"}]}
  }
})";

}  // namespace

TEST(LaunchNetworkMap, ReadsThisVmsEntry) {
  const auto vm0 = parse_network_map(kMap, 0, "vms.json");
  ASSERT_TRUE(vm0);
  EXPECT_EQ(vm0->tap, "svm2a.0");
  EXPECT_EQ(vm0->mac, "52:54:00:02:b0:00");
  EXPECT_EQ(vm0->ip, "10.128.42.2");
  EXPECT_EQ(vm0->gateway, "10.128.42.1");
  EXPECT_EQ(vm0->ssh_port, 40022);
  EXPECT_EQ(vm0->resource_set, "cluster");
  ASSERT_EQ(vm0->nics.size(), 3u);
  EXPECT_EQ(vm0->nics[1].kind, NicKind::l2);
  EXPECT_EQ(vm0->nics[1].tap, "svm2a.1000");
  EXPECT_EQ(vm0->nics[2].kind, NicKind::bridged);
  EXPECT_FALSE(vm0->nics[2].mtu);
  // A VM with no L3 NIC has no address and no ssh port.
  const auto vm3 = parse_network_map(kMap, 3, "vms.json");
  EXPECT_FALSE(vm3->ssh_port);
  EXPECT_TRUE(vm3->ip.empty());
  EXPECT_EQ(vm3->nics.at(0).mac, "52:54:01:02:b0:03");
  EXPECT_FALSE(parse_network_map(kMap, 1, "vms.json"));  // on another node
}

TEST(LaunchNetworkMap, RefusesValuesThatWouldChangeQemusOptions) {
  for (const char* entry : {R"({"kind": "L2", "tap": "svm,script=/tmp/x", "mac": "52:54:00:02:b0:00"})",
                            R"({"kind": "L2", "tap": "a-very-long-interface-name", "mac": "52:54:00:02:b0:00"})",
                            R"({"kind": "L2", "tap": "svm2a.0", "mac": "52:54:00:02:b0:00,x"})",
                            R"({"kind": "L2", "tap": "svm2a.0", "mac": "52:54:00:02:b0"})",
                            R"({"kind": "L2", "tap": 7, "mac": "52:54:00:02:b0:00"})",
                            R"({"tap": "svm2a.0", "mac": "52:54:00:02:b0:00", "kind": "L4"})",
                            R"({"tap": "svm2a.0", "mac": "52:54:00:02:b0:00", "kind": "L3", "ip": "1.2.3.4 x"})"}) {
    const std::string text = std::string(R"({"vms": {"0": {"nics": [)") + entry + "]}}}";
    try {
      parse_network_map(text, 0, "/run/slurm-vm/jobs/1/vms.json");
      FAIL() << entry;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::config);
      EXPECT_THAT(e.what(), HasSubstr("/run/slurm-vm/jobs/1/vms.json: vms.\"0\""));
    }
  }
  EXPECT_THROW(parse_network_map("{", 0, "x"), Error);
  EXPECT_THROW(parse_network_map(R"({"vms": []})", 0, "x"), Error);
}

TEST(LaunchNetworkMap, MissingMapOrEntrySaysThePrologDidNotRun) {
  TempDir run;
  const slurmvm::RunDirLayout layout{run.path()};
  EXPECT_EQ(layout.vms_file(42), run.path() / "jobs/42/vms.json");
  try {
    load_vm_network(layout, 42, 3);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_THAT(e.what(), HasSubstr("no network prepared for vm3"));
    EXPECT_THAT(e.what(), HasSubstr("vm-prolog"));
  }
  fs::create_directories(run.path() / "jobs/42");
  std::ofstream(run.path() / "jobs/42/vms.json") << kMap;
  EXPECT_EQ(load_vm_network(slurmvm::RunDirLayout{run.path()}, 42, 3).nics.at(0).tap, "svm2a.3");
  EXPECT_THROW(load_vm_network(slurmvm::RunDirLayout{run.path()}, 42, 1), Error);
}

TEST(LaunchJobDir, CreatesPrivateDirectoriesAndToleratesExistingOnes) {
  TempDir home;
  const fs::path job = home.path() / ".local/state/slurm-vm/job-42";
  make_private_dir(home.path(), job);
  make_private_dir(home.path(), job);  // a second task of the job on a shared home
  make_private_dir(home.path(), job / "vm3");
  EXPECT_EQ(mode_of(job), 0700u);
  EXPECT_EQ(mode_of(job / "vm3"), 0700u);
  EXPECT_EQ(mode_of(home.path() / ".local"), 0700u);
  // An existing directory with looser permissions is made private.
  ::chmod(job.c_str(), 0755);
  make_private_dir(home.path(), job);
  EXPECT_EQ(mode_of(job), 0700u);
}

TEST(LaunchJobDir, RefusesASymlinkInPlaceOfTheDirectory) {
  TempDir home;
  fs::create_directories(home.path() / "elsewhere");
  fs::create_directories(home.path() / "state");
  fs::create_directory_symlink(home.path() / "elsewhere", home.path() / "state/job-1");
  try {
    make_private_dir(home.path(), home.path() / "state/job-1");
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("not a directory"));
  }
  // Parents may be symlinks: a ~/.local moved elsewhere is the user's own choice.
  fs::create_directory_symlink(home.path() / "elsewhere", home.path() / ".local");
  make_private_dir(home.path(), home.path() / ".local/job-2");
  EXPECT_TRUE(fs::is_directory(home.path() / "elsewhere/job-2"));
  EXPECT_THROW(make_private_dir(home.path(), "/tmp/outside"), Error);
}

// The ledger's rule: a directory more open than asked is refused, not fixed (someone else may
// have written there meanwhile).
TEST(LaunchJobDir, LooseDirectoryRefusedWhenAsked) {
  TempDir base;
  const fs::path dir = base.path() / "ledger";
  make_private_dir(base.path(), dir, 0700, slurmvm::LooseMode::refuse);
  EXPECT_EQ(mode_of(dir), 0700u);
  ::chmod(dir.c_str(), 0777);
  EXPECT_THROW(make_private_dir(base.path(), dir, 0700, slurmvm::LooseMode::refuse), Error);
  EXPECT_EQ(mode_of(dir), 0777u);
  make_private_dir(base.path(), dir, 0711);  // tighten: to exactly the mode asked
  EXPECT_EQ(mode_of(dir), 0711u);
}

TEST(LaunchJobDir, ReadFileRefusesSymlinksWhenAskedAndSaysWhenAbsent) {
  TempDir dir;
  const fs::path f = dir.path() / "state.json";
  std::ofstream(f) << "{}";
  fs::create_symlink(f, dir.path() / "link");
  EXPECT_EQ(read_file(dir.path() / "link"), "{}");
  try {
    read_file(dir.path() / "link", 100, slurmvm::Symlinks::refuse);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), ELOOP);
  }
  EXPECT_EQ(slurmvm::read_file_if_exists(dir.path() / "absent"), std::nullopt);
  EXPECT_EQ(slurmvm::read_file_if_exists(f), "{}");
  EXPECT_EQ(read_file("/proc/self/comm").empty(), false);  // size 0 to stat, read all the same
}

TEST(LaunchJobDir, VmPaths) {
  const VmPaths p = vm_paths("/home/a/.local/state/slurm-vm/job-7", 12);
  EXPECT_EQ(p.vm_dir, "/home/a/.local/state/slurm-vm/job-7/vm12");
  EXPECT_EQ(p.disk, "/home/a/.local/state/slurm-vm/job-7/vm12/disk.qcow2");
  EXPECT_EQ(p.seed_iso, "/home/a/.local/state/slurm-vm/job-7/vm12/seed.iso");
  EXPECT_EQ(p.qmp, "/home/a/.local/state/slurm-vm/job-7/vm12/qmp.sock");
  EXPECT_EQ(p.console, "/home/a/.local/state/slurm-vm/job-7/vm12/console.sock");
  EXPECT_EQ(p.console_log, "/home/a/.local/state/slurm-vm/job-7/vm12/console.log");
  EXPECT_EQ(p.vm_json, "/home/a/.local/state/slurm-vm/job-7/vm12/vm.json");
}

TEST(LaunchJobDir, AtomicWritesReplaceWholeFilesWithTheirMode) {
  TempDir dir;
  const fs::path f = dir.path() / "vm.json";
  write_file_atomic(f, "one", 0600, {}, slurmvm::Durability::flushed);
  slurmvm::write_file_atomic(f, "two\n", 0644);  // synced, the default
  EXPECT_EQ(read_file(f), "two\n");
  EXPECT_EQ(mode_of(f), 0644u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
  EXPECT_THROW(read_file(dir.path()), Error);  // not a regular file
  EXPECT_THROW(read_file(f, 2), Error);        // over the limit
  remove_if_exists(f);
  remove_if_exists(f);
  EXPECT_FALSE(fs::exists(f));
}

TEST(LaunchImage, PathsDirectoriesAndRepositories) {
  TempDir dir;
  std::ofstream(dir.path() / "disk.qcow2") << "x";
  EXPECT_EQ(resolve_image_file((dir.path() / "disk.qcow2").string()), dir.path() / "disk.qcow2");

  // pcocc legacy directory: `image` is revision 0, image-revN revision N; the newest wins.
  const fs::path legacy = dir.path() / "centos";
  fs::create_directories(legacy);
  EXPECT_THROW(resolve_image_file(legacy.string()), Error);
  std::ofstream(legacy / "image") << "x";
  EXPECT_EQ(resolve_image_file(legacy.string()), legacy / "image");
  std::ofstream(legacy / "image-rev2") << "x";
  std::ofstream(legacy / "image-rev10") << "x";
  std::ofstream(legacy / "image-revX") << "x";
  EXPECT_EQ(resolve_image_file(legacy.string() + "/"), legacy / "image-rev10");

  // Names without '/' are repository images (image_repo_test.cpp), never files.
  for (const char* repo : {"global:centos7", "centos7", "user:centos7@3"}) {
    EXPECT_TRUE(slurmvm::is_repo_image(repo)) << repo;
    EXPECT_THROW(resolve_image_file(repo), Error) << repo;
  }
  EXPECT_FALSE(slurmvm::is_repo_image("/images/centos7.qcow2"));
  EXPECT_THROW(resolve_image_file("images/centos"), Error);  // relative
  try {
    resolve_image_file((dir.path() / "missing.qcow2").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
  }
}

// Where the disk overlay is made: pcocc's $PCOCC_TMPDIR (absolute), else the site's
// node-scratch for the job's user, else the VM's directory; a missing one is made private.
TEST(LaunchOverlay, DirectoryChoiceAndCreation) {
  TempDir dir;
  const VmPaths paths = vm_paths(dir.path() / "job-7", 3);
  VmSubstitutions subst;
  subst.user.user = "alice";
  subst.user.homedir = (dir.path() / "home").string();
  subst.user.getenv = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  EXPECT_EQ(overlay_dir(std::nullopt, std::nullopt, subst, paths), paths.vm_dir);
  const fs::path scratch = overlay_dir(std::nullopt, (dir.path() / "scratch/%{user}").string(), subst, paths);
  EXPECT_EQ(scratch, dir.path() / "scratch/alice");
  struct stat st {};
  ASSERT_EQ(::stat(scratch.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  const std::string tmp = (dir.path() / "tmpdir").string();
  EXPECT_EQ(overlay_dir(tmp, (dir.path() / "scratch").string(), subst, paths), tmp);  // the user's wins
  EXPECT_EQ(overlay_dir(std::string("relative"), std::nullopt, subst, paths), paths.vm_dir);  // not absolute: ignored
  EXPECT_THROW(overlay_dir(std::nullopt, std::string("scratch"), subst, paths), Error);
}
