// QEMU's command line, pinned word for word: TCG and KVM, each disk model, the NIC, direct
// kernel boot, custom-args with substitutions, option-string escaping and long socket paths.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "error.hpp"
#include "launch/qemu_argv.hpp"
#include "launch/qemu_binary.hpp"
#include "launch/vm_substitutions.hpp"
#include "vm_record.hpp"

using slurmvm::Error;
using slurmvm::ErrorKind;
using namespace slurmvm::launch;
using slurmvm::config::DiskCache;
using slurmvm::config::DiskModel;
using Argv = std::vector<std::string>;

namespace {

const std::string kDir = "/home/alice/.local/state/slurm-vm/job-42/vm3";

// vm3 of job 42 under TCG: 2 vCPUs, 1856 MiB, the template's image, a TAP from the prolog.
VmSpec tcg_spec() {
  VmSpec s;
  s.qemu_bin = "/usr/bin/qemu-system-x86_64";
  s.name = "vm3";
  s.machine_type = "pc";
  s.kvm = false;
  s.cpu_model = default_cpu_model(false);
  s.vcpus = 2;
  s.memory_mib = 1856;
  s.disk = kDir + "/disk.qcow2";
  s.seed_iso = kDir + "/seed.iso";
  s.qmp_socket = kDir + "/qmp.sock";
  s.console_socket = kDir + "/console.sock";
  s.console_log = kDir + "/console.log";
  s.agent_socket = kDir + "/qga.sock";
  s.nics = {NicSpec{"svm2a.3", "52:54:00:02:a0:03", "virtio-net"}};
  return s;
}

// Everything up to the disks: the same for every disk model.
Argv common_head(const std::string& accel, const std::string& cpu) {
  return {
      "/usr/bin/qemu-system-x86_64",
      "-name", "vm3,debug-threads=on",
      "-machine", "pc",
      "-accel", accel,
      "-cpu", cpu,
      "-smp", "2",
      "-m", "1856",
      "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
      "-S",
      "-qmp", "unix:" + kDir + "/qmp.sock,server=on,wait=off",
      "-chardev", "socket,id=console,path=" + kDir + "/console.sock,server=on,wait=off,logfile=" +
                      kDir + "/console.log,logappend=on",
      "-serial", "chardev:console",
      "-chardev", "socket,id=qga0,path=" + kDir + "/qga.sock,server=on,wait=off",
      "-device", "virtio-serial-pci,id=vserial0",
      "-device", "virtserialport,bus=vserial0.0,chardev=qga0,name=org.qemu.guest_agent.0",
      "-object", "rng-random,id=rng0,filename=/dev/urandom",
      "-device", "virtio-rng-pci,rng=rng0",
  };
}

const Argv kNic = {
    "-netdev", "tap,id=n0,ifname=svm2a.3,script=no,downscript=no",
    "-device", "virtio-net-pci,id=nic0,netdev=n0,mac=52:54:00:02:a0:03,csum=off,guest_csum=off",
};

Argv concat(std::initializer_list<Argv> parts) {
  Argv out;
  for (const Argv& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

TEST(LaunchArgv, TcgVirtioGolden) {
  const Argv expected = concat({
      common_head("tcg,tb-size=64", "max"),
      {"-drive", "file=" + kDir + "/disk.qcow2,format=qcow2,cache=unsafe,discard=unmap,if=none,id=disk0",
       "-device", "virtio-blk-pci,drive=disk0",
       "-drive", "file=" + kDir + "/seed.iso,format=raw,readonly=on,if=none,id=seed0",
       "-device", "virtio-blk-pci,drive=seed0"},
      kNic,
  });
  EXPECT_EQ(build_qemu_argv(tcg_spec()), expected);
}

TEST(LaunchArgv, KvmUsesHostCpuAndNoTranslationCache) {
  VmSpec s = tcg_spec();
  s.kvm = true;
  s.cpu_model = default_cpu_model(true);
  const Argv argv = build_qemu_argv(s);
  const Argv head = common_head("kvm", "host");
  ASSERT_GT(argv.size(), head.size());
  EXPECT_EQ(Argv(argv.begin(), argv.begin() + static_cast<long>(head.size())), head);
}

TEST(LaunchArgv, TemplateCpuModelAndMachineAreUsedAsGiven) {
  VmSpec s = tcg_spec();
  s.cpu_model = "Skylake-Server";
  s.machine_type = "q35";
  const Argv argv = build_qemu_argv(s);
  EXPECT_THAT(argv, testing::Contains("Skylake-Server"));
  EXPECT_THAT(argv, testing::Contains("q35"));
}

TEST(LaunchArgv, VirtioScsiDiskAndSeedOnTheScsiBus) {
  VmSpec s = tcg_spec();
  s.disk_model = DiskModel::virtio_scsi;
  s.disk_cache = DiskCache::writeback;
  s.nics.clear();
  const Argv expected = concat({
      common_head("tcg,tb-size=64", "max"),
      {"-device", "virtio-scsi-pci,id=scsi0",
       "-drive", "file=" + kDir + "/disk.qcow2,format=qcow2,cache=writeback,discard=unmap,if=none,id=disk0",
       "-device", "scsi-hd,bus=scsi0.0,drive=disk0,bootindex=0",
       "-drive", "file=" + kDir + "/seed.iso,format=raw,readonly=on,if=none,id=seed0",
       "-device", "scsi-cd,bus=scsi0.0,drive=seed0"},
  });
  EXPECT_EQ(build_qemu_argv(s), expected);
}

TEST(LaunchArgv, IdeDiskAndSeedCdrom) {
  VmSpec s = tcg_spec();
  s.disk_model = DiskModel::ide;
  s.disk_cache = DiskCache::none;
  s.nics[0].model = "e1000";
  const Argv expected = concat({
      common_head("tcg,tb-size=64", "max"),
      {"-drive", "file=" + kDir + "/disk.qcow2,format=qcow2,cache=none,discard=unmap,if=ide,index=0,media=disk",
       "-drive", "file=" + kDir + "/seed.iso,format=raw,readonly=on,if=ide,index=2,media=cdrom",
       // No checksum options: they are virtio-net's.
       "-netdev", "tap,id=n0,ifname=svm2a.3,script=no,downscript=no",
       "-device", "e1000,id=nic0,netdev=n0,mac=52:54:00:02:a0:03"},
  });
  EXPECT_EQ(build_qemu_argv(s), expected);
}

TEST(LaunchArgv, NoImageMeansNoDiskButStillASeed) {
  VmSpec s = tcg_spec();
  s.disk.reset();
  s.nics.clear();
  const Argv expected = concat({
      common_head("tcg,tb-size=64", "max"),
      {"-drive", "file=" + kDir + "/seed.iso,format=raw,readonly=on,if=none,id=seed0",
       "-device", "virtio-blk-pci,drive=seed0"},
  });
  EXPECT_EQ(build_qemu_argv(s), expected);
}

TEST(LaunchArgv, KernelBootGetsPcoccsDefaultCommandLineUnlessCustomArgsGiveOne) {
  VmSpec s = tcg_spec();
  s.nics.clear();
  s.kernel = "/images/vmlinuz";
  Argv argv = build_qemu_argv(s);
  EXPECT_EQ(Argv(argv.end() - 4, argv.end()),
            (Argv{"-kernel", "/images/vmlinuz", "-append", "console=ttyS0 root=/dev/vda1"}));

  s.custom_args = {"-initrd", "/images/initrd", "-append", "console=ttyS0 quiet"};
  argv = build_qemu_argv(s);
  EXPECT_EQ(Argv(argv.end() - 6, argv.end()),
            (Argv{"-kernel", "/images/vmlinuz", "-initrd", "/images/initrd", "-append",
                  "console=ttyS0 quiet"}));
}

TEST(LaunchArgv, CustomArgsComeLastWithTheirSubstitutions) {
  VmSubstitutions subst{{"alice", "/home/alice", [](const std::string& name) -> std::optional<std::string> {
                           if (name == "SCRATCH") return "/scratch/alice";
                           return std::nullopt;
                         }},
                        "/home/alice/.local/state/slurm-vm/job-42", "alice", 3};
  VmSpec s = tcg_spec();
  for (const char* arg : {"-fw_cfg", "name=opt/rank,string=%{vm_rank}", "-virtfs",
                          "local,path=%{env:SCRATCH}/%{user},mount_tag=scratch,security_model=none",
                          "-pidfile", "%{clusterdir}/vm%{vm_rank}/qemu.pid", "-D", "~/qemu-%{clusteruser}.log"}) {
    s.custom_args.push_back(subst.expand(arg));
  }
  const Argv argv = build_qemu_argv(s);
  EXPECT_EQ(Argv(argv.end() - 8, argv.end()),
            (Argv{"-fw_cfg", "name=opt/rank,string=3", "-virtfs",
                  "local,path=/scratch/alice/alice,mount_tag=scratch,security_model=none", "-pidfile",
                  "/home/alice/.local/state/slurm-vm/job-42/vm3/qemu.pid", "-D",
                  "/home/alice/qemu-alice.log"}));
}

TEST(LaunchArgv, SubstitutionErrorsAreConfigErrors) {
  VmSubstitutions subst{{"alice", "/home/alice", [](const std::string&) { return std::nullopt; }}, "/j", "alice", 0};
  try {
    subst.expand("%{env:NOPE}");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
  }
  EXPECT_THROW(subst.expand("%{vmrank}"), Error);
  EXPECT_EQ(subst.expand("100%"), "100%");
}

TEST(LaunchArgv, CommasInPathsAreDoubledInOptionStrings) {
  EXPECT_EQ(qemu_opt_escape("/home/a,b/x"), "/home/a,,b/x");
  VmSpec s = tcg_spec();
  s.disk = "/home/a,b/disk.qcow2";
  s.qmp_socket = "/home/a,b/qmp.sock";
  const Argv argv = build_qemu_argv(s);
  EXPECT_THAT(argv, testing::Contains("unix:/home/a,,b/qmp.sock,server=on,wait=off"));
  EXPECT_THAT(argv, testing::Contains(testing::StartsWith("file=/home/a,,b/disk.qcow2,format=qcow2")));
}

TEST(LaunchArgv, SocketPathsLongerThanSunPathBecomeRelative) {
  EXPECT_EQ(socket_path_for_qemu(kDir + "/qmp.sock"), kDir + "/qmp.sock");
  const std::string long_dir = "/home/" + std::string(100, 'x') + "/vm0";
  EXPECT_EQ(socket_path_for_qemu(long_dir + "/qmp.sock"), "qmp.sock");
}

TEST(LaunchArgv, NicModels) {
  EXPECT_EQ(nic_device("virtio-net"), "virtio-net-pci");
  EXPECT_EQ(nic_device("e1000"), "e1000");
}

TEST(LaunchQemuBinary, BareNamesAreLookedUpInFixedDirectories) {
  auto only = [](std::string path) { return [path](const std::filesystem::path& p) { return p == path; }; };
  EXPECT_EQ(resolve_qemu_binary("qemu-system-x86_64", only("/usr/bin/qemu-system-x86_64")),
            "/usr/bin/qemu-system-x86_64");
  EXPECT_EQ(resolve_qemu_binary("qemu-system-x86_64", only("/usr/local/bin/qemu-system-x86_64")),
            "/usr/local/bin/qemu-system-x86_64");
  EXPECT_EQ(resolve_qemu_binary("/opt/qemu/bin/qemu", only("/opt/qemu/bin/qemu")), "/opt/qemu/bin/qemu");
  try {
    resolve_qemu_binary("qemu-kvm", only("/nowhere"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_THAT(e.what(), testing::HasSubstr("/usr/bin, /usr/local/bin"));
  }
  EXPECT_THROW(resolve_qemu_binary("bin/qemu", only("bin/qemu")), Error);
  EXPECT_THROW(resolve_qemu_binary("/opt/missing", only("/nowhere")), Error);
}

TEST(LaunchArgv, SeveralNicsInResourceSetOrder) {
  VmSpec s = tcg_spec();
  s.disk.reset();
  s.nics = {NicSpec{"svm2a.3", "52:54:00:02:a0:03", "virtio-net"}, NicSpec{"svm2a.1003", "52:54:01:02:a0:03", "e1000"}};
  const Argv expected = concat({
      common_head("tcg,tb-size=64", "max"),
      {"-drive", "file=" + kDir + "/seed.iso,format=raw,readonly=on,if=none,id=seed0",
       "-device", "virtio-blk-pci,drive=seed0",
       "-netdev", "tap,id=n0,ifname=svm2a.3,script=no,downscript=no",
       "-device", "virtio-net-pci,id=nic0,netdev=n0,mac=52:54:00:02:a0:03,csum=off,guest_csum=off",
       "-netdev", "tap,id=n1,ifname=svm2a.1003,script=no,downscript=no",
       "-device", "e1000,id=nic1,netdev=n1,mac=52:54:01:02:a0:03"},
  });
  EXPECT_EQ(build_qemu_argv(s), expected);
}

TEST(LaunchArgv, MountPointsOverVirtio9p) {
  VmSpec s = tcg_spec();
  s.disk.reset();
  s.nics.clear();
  s.mounts = {MountSpec{"home", "/home/al,ice", false}, MountSpec{"data", "/scratch/d", true}};
  const Argv expected = concat({
      common_head("tcg,tb-size=64", "max"),
      {"-drive", "file=" + kDir + "/seed.iso,format=raw,readonly=on,if=none,id=seed0",
       "-device", "virtio-blk-pci,drive=seed0",
       // A comma in a path is doubled: QEMU's option syntax.
       "-fsdev", "local,id=fs0,path=/home/al,,ice,security_model=none",
       "-device", "virtio-9p-pci,fsdev=fs0,mount_tag=home",
       "-fsdev", "local,id=fs1,path=/scratch/d,security_model=none,readonly=on",
       "-device", "virtio-9p-pci,fsdev=fs1,mount_tag=data"},
  });
  EXPECT_EQ(build_qemu_argv(s), expected);
}

TEST(LaunchArgv, PersistentDrivesAfterTheSeedWithTheirLocking) {
  VmSpec s = tcg_spec();
  s.disk.reset();
  s.nics.clear();
  s.drives = {DriveSpec{"/scratch/alice/data.raw", "raw", DiskCache::writeback, true},
              DriveSpec{"/scratch/shared.qcow2", "qcow2", DiskCache::none, false}};
  const Argv expected = concat({
      common_head("tcg,tb-size=64", "max"),
      {"-drive", "file=" + kDir + "/seed.iso,format=raw,readonly=on,if=none,id=seed0",
       "-device", "virtio-blk-pci,drive=seed0",
       // mmp: yes -> QEMU's image lock refuses a second writer.
       "-drive", "file=/scratch/alice/data.raw,format=raw,cache=writeback,if=none,id=pdrive0,file.locking=on",
       "-device", "virtio-blk-pci,drive=pdrive0,serial=persistent0",
       // mmp: cluster/no -> shared by the VMs: no lock, and the device accepts other writers.
       "-drive", "file=/scratch/shared.qcow2,format=qcow2,cache=none,if=none,id=pdrive1,file.locking=off",
       "-device", "virtio-blk-pci,drive=pdrive1,serial=persistent1,share-rw=on"},
  });
  EXPECT_EQ(build_qemu_argv(s), expected);
  s.disk_model = DiskModel::virtio_scsi;
  const Argv scsi = build_qemu_argv(s);
  EXPECT_THAT(scsi, testing::Contains("scsi-hd,bus=scsi0.0,drive=pdrive1,serial=persistent1,share-rw=on"));
}

// Passthrough devices (vms.json "pci") follow the NICs, one vfio-pci device each.
TEST(LaunchArgv, PassthroughDevicesAfterTheNics) {
  VmSpec s = tcg_spec();
  s.pci_devices = {"0000:3b:00.2", "0000:af:00.0"};
  const Argv argv = build_qemu_argv(s);
  const Argv tail(argv.end() - 6, argv.end());
  EXPECT_EQ(tail, (Argv{kNic[2], kNic[3], "-device", "vfio-pci,host=0000:3b:00.2,id=hostpci0", "-device",
                        "vfio-pci,host=0000:af:00.0,id=hostpci1"}));
}

// vm-launch hands the overlay over already unlinked (vm_inputs.hpp, OpenDisk): QEMU gets both
// descriptors as fd set 1, before the drive that names it.
TEST(LaunchArgv, AnUnlinkedOverlayIsFdSetOne) {
  VmSpec s = tcg_spec();
  s.disk = std::string(slurmvm::kDiskFdSet);
  s.disk_fds = std::make_pair(7, 8);
  const Argv argv = build_qemu_argv(s);
  const auto rw = std::find(argv.begin(), argv.end(), "fd=7,set=1,opaque=disk-rw");
  const auto ro = std::find(argv.begin(), argv.end(), "fd=8,set=1,opaque=disk-ro");
  const auto drive = std::find_if(argv.begin(), argv.end(),
                                  [](const std::string& a) { return a.starts_with("file=/dev/fdset/1,format=qcow2"); });
  ASSERT_NE(rw, argv.end());
  ASSERT_NE(ro, argv.end());
  ASSERT_NE(drive, argv.end());
  EXPECT_EQ(*(rw - 1), "-add-fd");
  EXPECT_LT(ro, drive);
}
