// The user's job directory as the CLI writes and reads it (job_files.hpp): cluster.json
// round-trips through its one type, and a VM's vm.json as vm-launch writes it reads back with
// its disk path.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "boot_watch.hpp"
#include "error.hpp"
#include "job_files.hpp"
#include "launch/vm_info.hpp"
#include "vm_record.hpp"

namespace fs = std::filesystem;
using namespace slurmvm;
using namespace slurmvm::cli;

namespace {

class TempHome {
 public:
  TempHome() {
    std::string tmpl = (fs::temp_directory_path() / "svm-home-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempHome() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

TEST(CliJobFiles, ClusterFileRoundTrips) {
  TempHome home;
  JobDir dir(home.path(), 42);
  dir.create();
  const ClusterFile c{42, "master:1,compute:2", {"node1", "node2"}, 2, {0, 0, 1}, {}};
  dir.write_cluster(c);
  const ClusterFile back = dir.read_cluster();
  EXPECT_EQ(back.job_id, 42u);
  EXPECT_EQ(back.definition, c.definition);
  EXPECT_EQ(back.nodes, c.nodes);
  EXPECT_EQ(back.cpus_per_vm, 2u);
  EXPECT_EQ(back.node_of_vm, c.node_of_vm);
  EXPECT_EQ(back.step_options("node2"), std::vector<std::string>{"--jobid=42"});
  // A heterogeneous job: a step on node2 goes to its component there.
  dir.write_cluster({42, "master:1:c=2,compute:2:c=1", {"node1", "node2"}, 2, {0, 1, 1}, {{"node1", 0}, {"node2", 1}}});
  EXPECT_EQ(dir.read_cluster().step_options("node2"), (std::vector<std::string>{"--jobid=42", "--het-group=1"}));
  EXPECT_THROW(JobDir(home.path(), 43).read_cluster(), Error);  // no cluster: a hint, not a crash
}

TEST(CliJobFiles, LauncherVmJsonReadsBack) {
  TempHome home;
  JobDir dir(home.path(), 42);
  dir.create();
  launch::VmInfo info;
  info.job_id = 42;
  info.rank = 1;
  info.node = "node2";
  info.paths = launch::vm_paths(dir.path(), 1);
  fs::create_directories(dir.vm_dir(1));
  std::ofstream(dir.vm_dir(1) / "vm.json") << launch::vm_info_json(info).dump(2) << "\n";
  const auto vm = dir.read_vm(1);
  ASSERT_TRUE(vm);
  EXPECT_EQ(vm->name, "vm1");
  EXPECT_EQ(vm->node, "node2");
  EXPECT_EQ(vm->qmp, info.paths.qmp);
  EXPECT_EQ(vm->disk, dir.vm_dir(1) / "disk.qcow2");
  EXPECT_FALSE(dir.read_vm(0));  // not started (yet)
}

// vm-launch's reason for giving up, as vm boot shows it: the node, the message, and nothing a
// terminal would act on.
TEST(CliJobFiles, LaunchFailureReadsBackForTheTerminal) {
  TempHome home;
  JobDir dir(home.path(), 42);
  dir.create();
  fs::create_directories(dir.vm_dir(0));
  fs::create_directories(dir.vm_dir(1));
  fs::create_directories(dir.vm_dir(2));
  std::ofstream(dir.vm_dir(0) / std::string(kLaunchErrorFile))
      << to_json(LaunchFailure{"node1", "need 512 MiB of locked memory\x1b]0;owned\x07"}).dump() << "\n";
  EXPECT_EQ(launch_failure(dir.vm_dir(0)), "on node1: need 512 MiB of locked memory\\x1b]0;owned\\x07");
  EXPECT_FALSE(launch_failure(dir.vm_dir(1)));  // it started, or left nothing
  std::ofstream(dir.vm_dir(2) / std::string(kLaunchErrorFile)) << "{\"node\": 3";
  const auto unreadable = launch_failure(dir.vm_dir(2));
  ASSERT_TRUE(unreadable);
  EXPECT_TRUE(unreadable->starts_with("its reason is unreadable: ")) << *unreadable;
  EXPECT_EQ(parse_launch_failure(to_json(LaunchFailure{"n", "m"}).dump(), "x").message, "m");
}

TEST(CliJobFiles, ConsoleTailShowsTheGuestsEscapesEscaped) {
  TempHome home;
  const auto log = home.path() / "console.log";
  std::ofstream(log) << "one\r\ntwo \x1b[31mred\x1b[0m\r\nthree\n";
  EXPECT_EQ(console_tail(log, 2), "  | two \\x1b[31mred\\x1b[0m\n  | three\n");
  EXPECT_EQ(console_tail(home.path() / "none", 2), "  (no console log yet)\n");
}

// The ssh_config of a job: each VM through its node's reverse NAT, its host key checked under
// its own name, and a connection limit: a VM whose QEMU died unnoticed must not hang `vm ssh`
// for the kernel's ~2 min of SYN retries (bench/soak, fault stepd-kill).
TEST(CliJobFiles, SshConfigNamesEachVmAndLimitsTheConnect) {
  TempHome home;
  JobDir dir(home.path(), 42);
  dir.create();
  VmFile vm;
  vm.name = "vm0";
  vm.node = "node1";
  vm.ssh_port = 60222;
  vm.host_key_pub = "ssh-ed25519 AAAA";
  dir.write_ssh_files({vm});
  std::ifstream in(dir.ssh_config());
  const std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(config.find("Host vm0\n  HostName node1\n  Port 60222\n"), std::string::npos) << config;
  EXPECT_NE(config.find("  HostKeyAlias vm0\n"), std::string::npos) << config;
  EXPECT_NE(config.find("  StrictHostKeyChecking yes\n"), std::string::npos) << config;
  EXPECT_NE(config.find("  ConnectTimeout 30\n"), std::string::npos) << config;
  std::ifstream keys(dir.known_hosts());
  std::string line;
  std::getline(keys, line);
  EXPECT_EQ(line, "vm0 ssh-ed25519 AAAA");
}
