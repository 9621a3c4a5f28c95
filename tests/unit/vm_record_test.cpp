// vm.json is one type (vm_record.hpp): what vm-launch writes for a VM is what the CLI reads,
// field for field, and a record without an L3 NIC or of an earlier version still reads.
#include <gtest/gtest.h>

#include "error.hpp"
#include "launch/vm_info.hpp"
#include "vm_record.hpp"

using namespace slurmvm;

TEST(VmRecord, LauncherRecordThroughTheCliReader) {
  launch::VmInfo info;
  info.job_id = 42;
  info.rank = 3;
  info.step_id = 0;
  info.node = "node2";
  info.pid = 4321;
  launch::VmNetwork net;
  net.tap = "svm2a.3";
  net.mac = "52:54:00:02:a0:03";
  net.ip = "10.128.32.5";
  net.ssh_port = 40022;
  info.network = net;
  info.hostname = "vm3";
  info.host_key_pub = "ssh-ed25519 AAAA vm3";
  info.paths = launch::vm_paths("/home/alice/.local/state/slurm-vm/job-42", 3);
  info.vcpus = 2;
  info.memory_mib = 1888;
  info.accel = "tcg";
  info.no_reboot = true;
  info.image = {{"file", "/img/tiny.qcow2"}};
  info.vcpu_cpus = {{0}, {1}};
  info.persistent_drives = true;
  info.drive_locks = {"/scratch/d.lock"};
  const std::string text = launch::vm_info_json(info).dump(2);

  const VmRecord vm = parse_vm_record(text, "vm.json");
  EXPECT_EQ(vm.name, "vm3");
  EXPECT_EQ(vm.rank, 3u);
  EXPECT_EQ(vm.step_id, 0u);
  EXPECT_EQ(vm.node, "node2");
  EXPECT_EQ(vm.pid, 4321);
  EXPECT_EQ(vm.ip, "10.128.32.5");
  EXPECT_EQ(vm.ssh_port, 40022);
  EXPECT_EQ(vm.qmp, info.paths.qmp);
  EXPECT_EQ(vm.console_log, info.paths.console_log);
  EXPECT_EQ(vm.agent, info.paths.agent);
  EXPECT_TRUE(vm.no_reboot);
  EXPECT_TRUE(vm.persistent_drives);
  ASSERT_EQ(vm.drive_locks.size(), 1u);
  EXPECT_EQ(vm.drive_locks[0], "/scratch/d.lock");
  EXPECT_EQ(vm.image.value("file", ""), "/img/tiny.qcow2");
  // And back: the same text.
  EXPECT_EQ(to_json(vm).dump(2), text);
}

TEST(VmRecord, NoL3NicAndOlderRecords) {
  const auto vm = parse_vm_record(R"({"rank": 1, "name": "vm1", "node": "n", "ip": null, "tap": null,
                                      "ssh_port": null, "step_id": null})",
                                  "vm.json");
  EXPECT_TRUE(vm.ip.empty());
  EXPECT_FALSE(vm.ssh_port);
  EXPECT_FALSE(vm.step_id);
  EXPECT_TRUE(vm.image.is_null());
  EXPECT_THROW(parse_vm_record(R"({"name": "vm1", "node": "n"})", "vm.json"), Error);  // no rank
  EXPECT_THROW(parse_vm_record(R"({"rank": "1", "name": "vm1", "node": "n"})", "vm.json"), Error);
  EXPECT_THROW(parse_vm_record("{", "vm.json"), Error);
}
