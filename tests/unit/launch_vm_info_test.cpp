// What vm-launch records of a VM (vm_info.hpp): the fields of its vm.json.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "error.hpp"
#include "launch/vm_info.hpp"

using slurmvm::Error;
using slurmvm::ErrorKind;
using namespace slurmvm::launch;
using testing::HasSubstr;

TEST(LaunchVmInfo, JsonFields) {
  VmInfo info;
  info.job_id = 42;
  info.rank = 3;
  info.step_id = 0;
  info.node = "node2";
  info.pid = 4321;
  VmNetwork net;
  net.tap = "svm2a.3";
  net.mac = "52:54:00:02:a0:03";
  net.ip = "10.128.32.5";
  net.gateway = "10.128.32.1";
  net.ssh_port = 40022;
  net.network_id = 42;  // a checkpoint keeps it (checkpoint.hpp)
  info.network = net;
  info.hostname = "vm3";
  info.host_key_pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDx vm3";
  info.paths = vm_paths("/home/alice/.local/state/slurm-vm/job-42", 3);
  info.vcpus = 2;
  info.memory_mib = 1888;
  info.accel = "tcg";
  const std::string d = "/home/alice/.local/state/slurm-vm/job-42/vm3/";
  EXPECT_EQ(vm_info_json(info), nlohmann::json::parse(R"({
      "rank": 3, "name": "vm3", "job_id": 42, "step_id": 0, "node": "node2", "pid": 4321,
      "tap": "svm2a.3", "mac": "52:54:00:02:a0:03", "ip": "10.128.32.5", "hostname": "vm3",
      "host_key_pub": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDx vm3",
      "qmp": ")" + d + R"(qmp.sock", "console": ")" + d + R"(console.sock",
      "console_log": ")" + d + R"(console.log", "agent": ")" + d + R"(qga.sock",
      "ssh_port": 40022, "network_id": 42, "vcpus": 2, "memory_mib": 1888, "accel": "tcg", "no_reboot": false, "image": null,
      "vcpu_cpus": [], "emulator_cpus": [], "numa_nodes": [], "persistent_drives": false, "drive_locks": []})"));
  info.network.reset();
  const auto j = vm_info_json(info);
  for (const char* key : {"tap", "mac", "ip", "ssh_port"}) EXPECT_TRUE(j[key].is_null()) << key;
  info.step_id.reset();
  EXPECT_TRUE(vm_info_json(info)["step_id"].is_null());
}
