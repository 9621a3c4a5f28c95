// vm doctor's pure parts (src/doctor): the text of other programs it reads, the plugin's ELF
// symbol as Slurm's loader reads it (from the plugin this build made), and its report.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <slurm/slurm_version.h>

#include <filesystem>
#include <fstream>

#include "error.hpp"
#include "file_read.hpp"
#include "checks.hpp"
#include "parsers.hpp"
#include "report.hpp"
#include "temp_dir.hpp"

using namespace slurmvm;
using namespace slurmvm::doctor;
using testing::HasSubstr;

TEST(DoctorParsers, ScontrolShowConfig) {
  const auto conf = parse_scontrol_config(
      "Configuration data as of 2026-12-04T10:00:00\n"
      "AccountingStorageBackupHost = (null)\n"
      "Epilog                  = /usr/libexec/slurm-vm/vm-epilog\n"
      "PlugStackConfig         = /etc/slurm/plugstack.conf\n"
      "PrologFlags             = Alloc,Contain\n"
      "SLURM_VERSION           = 22.05.8\n"
      "\n"
      "Cgroup Support Configuration:\n"
      "AllowedDevicesFile      = (null)\n");
  EXPECT_EQ(conf.at("Epilog"), "/usr/libexec/slurm-vm/vm-epilog");
  EXPECT_EQ(conf.at("PrologFlags"), "Alloc,Contain");
  EXPECT_EQ(conf.at("SLURM_VERSION"), "22.05.8");
  EXPECT_EQ(conf.count("Configuration data as of 2026-12-04T10:00:00"), 0u);
}

TEST(DoctorParsers, Plugstack) {
  const auto lines = parse_plugstack(
      "# comment\n"
      "required /usr/lib/x86_64-linux-gnu/slurm-wlm/spank_vm.so sysconfdir=/etc/slurm-vm # trailing\n"
      "optional spank_other.so\n"
      "include /etc/slurm/plugstack.conf.d/*.conf\n"
      "bogus line\n");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(lines[0].required);
  EXPECT_EQ(lines[0].path, "/usr/lib/x86_64-linux-gnu/slurm-wlm/spank_vm.so");
  EXPECT_EQ(lines[0].args, std::vector<std::string>{"sysconfdir=/etc/slurm-vm"});
  EXPECT_EQ(lines[0].line, 2);
  EXPECT_FALSE(lines[1].required);
  EXPECT_TRUE(lines[2].include);
  EXPECT_EQ(lines[2].path, "/etc/slurm/plugstack.conf.d/*.conf");
}

TEST(DoctorParsers, Versions) {
  EXPECT_EQ(parse_slurm_version("slurm 22.05.8\n"), (std::pair{22, 5}));
  EXPECT_EQ(parse_slurm_version("slurm-wlm 23.11.4"), (std::pair{23, 11}));
  EXPECT_FALSE(parse_slurm_version("no version"));
  EXPECT_EQ(parse_qemu_version("QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u12)\n"), (std::pair{7, 2}));
  EXPECT_FALSE(parse_qemu_version("qemu-system-x86_64: command not found"));
}

TEST(DoctorParsers, ForwardChainsThatDrop) {
  const std::string ruleset =
      "table inet filter {\n"
      "\tchain input {\n"
      "\t\ttype filter hook input priority filter; policy drop;\n"
      "\t}\n"
      "\tchain forward {\n"
      "\t\ttype filter hook forward priority filter; policy drop;\n"
      "\t}\n"
      "}\n"
      "table ip slurm_vm {\n"
      "\tchain forward {\n"
      "\t\ttype filter hook forward priority filter; policy drop;\n"
      "\t}\n"
      "}\n"
      "table ip nat {\n"
      "\tchain fwd {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t}\n"
      "}\n";
  EXPECT_EQ(forward_drop_chains(ruleset, "slurm_vm"), std::vector<std::string>{"inet filter forward"});
  EXPECT_TRUE(forward_drop_chains("", "slurm_vm").empty());
}

TEST(DoctorParsers, PluginVersionFromTheBuiltPlugin) {
  const std::string plugin = read_file(SLURM_VM_SPANK_PLUGIN, 256 << 20);
  EXPECT_EQ(elf_u32_symbol(plugin, "plugin_version"), std::optional<std::uint32_t>(SLURM_VERSION_NUMBER));
  EXPECT_EQ(elf_u32_symbol(plugin, "spank_plugin_version"), std::optional<std::uint32_t>(1));
  EXPECT_FALSE(elf_u32_symbol(plugin, "no_such_symbol"));
  EXPECT_FALSE(elf_u32_symbol("not an ELF file", "plugin_version"));
  EXPECT_FALSE(elf_u32_symbol(plugin.substr(0, 100), "plugin_version"));  // cut short: no read past the end
}

TEST(DoctorReport, ReadyRenderAndJson) {
  Report r{"node1",
           {{"kvm", Status::warn, "only TCG", "load kvm_intel"},
            {"ovs", Status::ok, "Open vSwitch 3.1.0", ""},
            {"iommu", Status::skip, "no VFIO network configured", ""}}};
  EXPECT_TRUE(r.ready());
  const std::string text = render_text(r);
  EXPECT_THAT(text, HasSubstr("node1: ready (1 ok, 1 warning(s), 0 failed, 1 skipped)"));
  EXPECT_THAT(text, HasSubstr("WARN  kvm    only TCG -> fix: load kvm_intel"));
  r.findings.push_back({"plugin", Status::fail, "spank_vm.so is not in plugstack.conf", "install slurm-vm-spank"});
  EXPECT_FALSE(r.ready());
  EXPECT_THAT(render_text(r), HasSubstr("node1: NOT READY"));
  const Report back = report_from_json(to_json(r));
  EXPECT_EQ(back.host, "node1");
  ASSERT_EQ(back.findings.size(), 4u);
  EXPECT_EQ(back.findings[3].status, Status::fail);
  EXPECT_EQ(back.findings[3].fix, "install slurm-vm-spank");
  EXPECT_EQ(to_json(r)["ready"], false);
  EXPECT_THROW(report_from_json(nlohmann::json{{"host", "x"}}), Error);
}

// The passthrough checks against a fake /sys and /proc (Host's roots): an IOMMU, an HCA with
// VFs and a subnet manager on an active port is ready; without VFs, SM or IOMMU each fails with
// its fix; with no VFIO network they are skipped.
namespace {

void put(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

}  // namespace

TEST(DoctorPassthrough, InfinibandNodeReadyOrNotFromSysfs) {
  test::TempDir dir("svm-doctor");
  const auto conf = dir.path() / "etc";
  put(conf / "networks.yaml",
      "ib: {type: infiniband, settings: {host-device: mlx5_0, min-pkey: \"0x2000\", max-pkey: \"0x3000\",\n"
      "     opensm-daemon: opensm, opensm-partition-cfg: /etc/opensm/partitions.conf,\n"
      "     opensm-partition-tpl: /etc/opensm/partitions.conf.tpl}}\n");
  std::optional<config::Config> cfg;
  // No default resource set yet: a warning, the configuration still loads.
  EXPECT_EQ(check_config(conf, cfg).status, Status::warn);
  put(conf / "resources.yaml", "default: {networks: [ib], default: true}\n");
  ASSERT_EQ(check_config(conf, cfg).status, Status::ok);
  std::optional<config::Config> none;
  EXPECT_EQ(check_config(dir.path() / "missing", none).status, Status::fail);
  Host host;
  host.sys = dir.path() / "sys";
  host.proc = dir.path() / "proc";  // no slurmd in it: memlock is skipped
  put(host.sys / "class/iommu/dmar0/uevent", "");
  put(host.sys / "class/infiniband/mlx5_0/device/sriov_numvfs", "4\n");
  put(host.sys / "class/infiniband/mlx5_0/ports/1/state", "4: ACTIVE\n");
  put(host.sys / "class/infiniband/mlx5_0/ports/1/sm_lid", "0x1\n");
  const auto status_of = [&](std::string_view check) {
    for (const Finding& f : check_passthrough(host, &*cfg)) {
      if (f.check == check) return f;
    }
    return Finding{std::string(check), Status::skip, "missing", ""};
  };
  EXPECT_EQ(status_of("iommu").status, Status::ok);
  EXPECT_EQ(status_of("memlock").status, Status::skip);
  const Finding ib = status_of("infiniband");
  EXPECT_EQ(ib.status, Status::ok) << ib.summary;
  EXPECT_THAT(ib.summary, HasSubstr("mlx5_0 has 4 VF(s), port 1 ACTIVE, subnet manager at LID 0x1"));

  put(host.sys / "class/infiniband/mlx5_0/ports/1/sm_lid", "0x0\n");
  EXPECT_EQ(status_of("infiniband").status, Status::fail);
  EXPECT_THAT(status_of("infiniband").fix, HasSubstr("start OpenSM"));
  put(host.sys / "class/infiniband/mlx5_0/device/sriov_numvfs", "0\n");
  EXPECT_THAT(status_of("infiniband").summary, HasSubstr("has no SR-IOV VF"));
  std::filesystem::remove_all(host.sys / "class/iommu");
  EXPECT_EQ(status_of("iommu").status, Status::fail);
  EXPECT_THAT(status_of("iommu").fix, HasSubstr("intel_iommu=on"));

  // No VFIO network: nothing of this is needed.
  const auto eth = dir.path() / "eth";
  put(eth / "networks.yaml", "nat: {type: ethernet, settings: {dev-prefix: nat}}\n");
  put(eth / "resources.yaml", "default: {networks: [nat], default: true}\n");
  std::optional<config::Config> plain;
  ASSERT_EQ(check_config(eth, plain).status, Status::ok);
  for (const Finding& f : check_passthrough(host, &*plain)) EXPECT_EQ(f.status, Status::skip) << f.check;
}
