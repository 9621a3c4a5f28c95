// vm doctor: the host itself (checks.hpp): configuration, KVM, QEMU, state directories,
// passthrough, huge pages; and run_all_checks.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "checks.hpp"
#include "error.hpp"
#include "file_read.hpp"
#include "kvm_probe.hpp"
#include "parsers.hpp"
#include "subprocess.hpp"
#include "vfio/pci_sysfs.hpp"

namespace fs = std::filesystem;

namespace slurmvm::doctor {
namespace {

// The QEMU slurm-vm is tested with (Debian 12); older ones may lack what vm-launch asks of QMP.
constexpr std::pair<int, int> kTestedQemu{7, 2};

bool is_vfio_network(const config::Network& n) {
  return std::holds_alternative<config::InfinibandNetwork>(n.settings) ||
         std::holds_alternative<config::HostInfinibandNetwork>(n.settings) ||
         std::holds_alternative<config::GenericPciNetwork>(n.settings);
}

std::vector<const config::Network*> vfio_networks(const config::Config* cfg) {
  std::vector<const config::Network*> out;
  if (cfg == nullptr) return out;
  for (const auto& [name, n] : cfg->networks) {
    if (is_vfio_network(n)) out.push_back(&n);
  }
  return out;
}

std::string trimmed(std::string_view s) { return std::string(vfio::trim_space(s)); }

std::optional<std::string> read_small(const fs::path& p) {
  try {
    if (auto t = read_file_if_exists(p, 1 << 16)) return trimmed(*t);
  } catch (const Error&) {
  }
  return std::nullopt;
}

// The pid of the slurmd of this host (its mount and network namespace: a sandbox node has its
// own), from /proc; nullopt when none runs.
std::optional<std::string> slurmd_pid(const Host& host) {
  std::error_code ec;
  const auto self_mnt = fs::read_symlink(host.proc / "self/ns/mnt", ec);
  const auto self_net = fs::read_symlink(host.proc / "self/ns/net", ec);
  for (const auto& e : fs::directory_iterator(host.proc, ec)) {
    const std::string pid = e.path().filename().string();
    if (pid.empty() || !std::all_of(pid.begin(), pid.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    if (read_small(e.path() / "comm") != "slurmd") continue;
    std::error_code ec2;
    if (fs::read_symlink(e.path() / "ns/mnt", ec2) != self_mnt || fs::read_symlink(e.path() / "ns/net", ec2) != self_net) {
      continue;
    }
    return pid;
  }
  return std::nullopt;
}

}  // namespace

Finding check_config(const fs::path& sysconf_dir, std::optional<config::Config>& cfg) {
  std::error_code ec;
  if (!fs::is_directory(sysconf_dir, ec)) {
    return {"config", Status::fail, fmt::format("{} does not exist: no network, resource set or template", sysconf_dir.string()),
            "install slurm-vm-common, or point SLURM_VM_SYSCONFDIR (the plugin's sysconfdir=) at the configuration"};
  }
  try {
    cfg = config::load_config({.system = sysconf_dir, .user = std::nullopt});
    if (cfg->default_resource_set() == nullptr) {
      return {"config", Status::warn,
              fmt::format("{} loads, but no resource set is the default: a template that names none gets no NIC",
                          sysconf_dir.string()),
              "mark one resource set 'default: true' in resources.yaml (docs/config.md)"};
    }
    return {"config", Status::ok,
            fmt::format("{} loads: {} network(s), {} resource set(s), {} template(s)", sysconf_dir.string(),
                        cfg->networks.size(), cfg->resource_sets.size(), cfg->system_templates.size()),
            ""};
  } catch (const Error& e) {
    return {"config", Status::fail, e.what(), "correct the file and line named (docs/config.md)"};
  }
}

Finding check_kvm(const Host& host) {
  const AccelChoice accel = choose_accelerator(probe_kvm(host.sys / "module"));
  if (accel.kvm) return {"kvm", Status::ok, "KVM usable (/dev/kvm)", ""};
  return {"kvm", Status::warn, fmt::format("only TCG, VMs many times slower: {}", accel.reason),
          "enable virtualization (VT-x/AMD-V) in the firmware, load kvm_intel or kvm_amd, and let the jobs' users "
          "open /dev/kvm (group kvm, or mode 0666)"};
}

Finding check_qemu(const config::Config* cfg) {
  // The QEMU the site's templates run: the default unless the first system template that names
  // another (`qemu-bin`, a site's own build) says otherwise.
  std::string program = config::Template{}.qemu_bin;
  if (cfg != nullptr) {
    for (const auto* t : cfg->templates_of(config::Origin::system)) {
      if (!t->qemu_bin.empty() && t->qemu_bin != program) {
        program = t->qemu_bin;
        break;
      }
    }
  }
  Command c;
  c.argv = {program, "--version"};
  c.search_path = true;
  c.timeout = std::chrono::seconds(10);
  RunResult r;
  try {
    r = run(c);
  } catch (const Error& e) {
    return {"qemu", Status::fail, fmt::format("{} cannot run: {}", program, e.what()),
            "install qemu-system-x86 (Debian) or qemu-kvm (RPM)"};
  }
  if (!r.ok()) {
    return {"qemu", Status::fail, fmt::format("{} --version failed: {}", program, trimmed(r.err + r.out)),
            "install qemu-system-x86 (Debian) or qemu-kvm (RPM)"};
  }
  const auto version = parse_qemu_version(r.out);
  if (!version) return {"qemu", Status::warn, fmt::format("{}: unknown version text '{}'", program, trimmed(r.out)), ""};
  const std::string text = fmt::format("{}.{}", version->first, version->second);
  if (*version < kTestedQemu) {
    return {"qemu", Status::warn, fmt::format("{} is QEMU {}, older than {}.{}, the oldest tested", program, text,
                                              kTestedQemu.first, kTestedQemu.second),
            "install QEMU 7.2 or later"};
  }
  return {"qemu", Status::ok, fmt::format("{} is QEMU {}", program, text), ""};
}

Finding check_state_dirs(const Host& host, const config::Config* cfg) {
  struct stat st {};
  std::string summary;
  if (::lstat(host.run_dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0) {
      return {"state-dirs", Status::fail,
              fmt::format("{} is not a directory of root's that only root can write", host.run_dir.string()),
              fmt::format("remove {} on a drained node; vm-prolog recreates it", host.run_dir.string())};
    }
    summary = fmt::format("{} is root's", host.run_dir.string());
  } else {
    summary = fmt::format("{} absent (the first job's prolog makes it)", host.run_dir.string());
  }
  if (cfg != nullptr && cfg->site.store.type == config::StoreType::file) {
    const fs::path store = cfg->site.store.path;
    std::error_code ec;
    if (!fs::is_directory(store, ec)) {
      const bool needed = std::any_of(cfg->networks.begin(), cfg->networks.end(), [](const auto& kv) {
        return std::holds_alternative<config::InfinibandNetwork>(kv.second.settings);
      });
      return {"state-dirs", needed ? Status::fail : Status::ok,
              summary + fmt::format("; the store {} does not exist{}", store.string(),
                                    needed ? "" : " (needed by infiniband networks only)"),
              needed ? fmt::format("create {} on a filesystem every node and the subnet manager's host share, "
                                   "or use etcd (slurm-vm.yaml store)",
                                   store.string())
                     : ""};
    }
    summary += fmt::format("; the store {} exists", store.string());
  }
  return {"state-dirs", Status::ok, summary, ""};
}

std::vector<Finding> check_passthrough(const Host& host, const config::Config* cfg) {
  std::vector<Finding> out;
  const auto vfio = vfio_networks(cfg);
  std::error_code ec;
  bool iommu = false;
  for (const auto& e : fs::directory_iterator(host.sys / "class/iommu", ec)) {
    (void)e;
    iommu = true;
    break;
  }
  if (vfio.empty()) {
    out.push_back({"iommu", Status::skip,
                   fmt::format("no VFIO network configured ({} IOMMU here)", iommu ? "an" : "no"), ""});
    out.push_back({"memlock", Status::skip, "no VFIO network configured: QEMU locks no memory", ""});
    out.push_back({"infiniband", Status::skip, "no infiniband network configured", ""});
    return out;
  }
  out.push_back(iommu ? Finding{"iommu", Status::ok, "an IOMMU is on (/sys/class/iommu)", ""}
                      : Finding{"iommu", Status::fail,
                                fmt::format("no IOMMU, which network {} needs (VFIO)", vfio.front()->name),
                                "turn VT-d/AMD-Vi on in the firmware and boot with intel_iommu=on (AMD: on by default)"});
  // Locked memory: the whole guest RAM of a VFIO VM is pinned against QEMU's RLIMIT_MEMLOCK,
  // which the job's tasks inherit from slurmd (docs/infiniband.md §1).
  if (const auto pid = slurmd_pid(host)) {
    // "Max locked memory   SOFT   HARD   bytes": vm-launch raises its soft limit to the hard one.
    const auto limits = read_small(host.proc / *pid / "limits");
    bool unlimited = false;
    if (limits) {
      const auto at = limits->find("Max locked memory");
      if (at != std::string::npos) {
        const auto end = limits->find('\n', at);
        std::istringstream words(limits->substr(at + 17, end == std::string::npos ? std::string::npos : end - at - 17));
        std::string soft, hard;
        words >> soft >> hard;
        unlimited = hard == "unlimited";
      }
    }
    out.push_back(unlimited ? Finding{"memlock", Status::ok, "slurmd's locked-memory limit is unlimited", ""}
                            : Finding{"memlock", Status::fail,
                                      "slurmd's locked-memory limit is not unlimited: VFIO VMs cannot pin their RAM",
                                      "LimitMEMLOCK=infinity for slurmd (systemctl edit slurmd) and "
                                      "PropagateResourceLimitsExcept=MEMLOCK in slurm.conf"});
  } else {
    out.push_back({"memlock", Status::skip, "no slurmd runs here to read its limits from", ""});
  }
  // InfiniBand: each network's device, its VFs and a subnet manager seen on an active port.
  bool any_ib = false;
  for (const config::Network* n : vfio) {
    std::string device;
    if (const auto* ib = std::get_if<config::InfinibandNetwork>(&n->settings)) device = ib->host_device;
    if (const auto* hib = std::get_if<config::HostInfinibandNetwork>(&n->settings)) device = hib->host_device;
    if (device.empty()) continue;
    any_ib = true;
    const fs::path dev = host.sys / "class/infiniband" / device;
    if (!fs::exists(dev, ec)) {
      out.push_back({"infiniband", Status::fail, fmt::format("network {}: no device {} ({})", n->name, device, dev.string()),
                     "check host-device in networks.yaml, and that the HCA's driver is loaded"});
      continue;
    }
    const auto vfs = read_small(dev / "device/sriov_numvfs");
    if (!vfs || *vfs == "0") {
      out.push_back({"infiniband", Status::fail, fmt::format("network {}: {} has no SR-IOV VF", n->name, device),
                     fmt::format("enable SR-IOV in the HCA's firmware and echo N > {}/device/sriov_numvfs at boot",
                                 dev.string())});
      continue;
    }
    std::string sm;
    for (const auto& port : fs::directory_iterator(dev / "ports", ec)) {
      const auto state = read_small(port.path() / "state");
      const auto sm_lid = read_small(port.path() / "sm_lid");
      if (state && state->find("ACTIVE") != std::string::npos && sm_lid && *sm_lid != "0x0" && *sm_lid != "0") {
        sm = fmt::format("port {} ACTIVE, subnet manager at LID {}", port.path().filename().string(), *sm_lid);
        break;
      }
    }
    out.push_back(sm.empty() ? Finding{"infiniband", Status::fail,
                                       fmt::format("network {}: {} has {} VF(s) but no active port with a subnet "
                                                   "manager",
                                                   n->name, device, *vfs),
                                       "start OpenSM (and vm-pkeyd) on the subnet manager's host; check the cabling"}
                             : Finding{"infiniband", Status::ok,
                                       fmt::format("network {}: {} has {} VF(s), {}", n->name, device, *vfs, sm), ""});
  }
  if (!any_ib) out.push_back({"infiniband", Status::skip, "no infiniband network configured", ""});
  return out;
}

Finding check_hugepages(const Host& host) {
  const auto meminfo = read_small(host.proc / "meminfo");
  if (!meminfo) return {"hugepages", Status::skip, "cannot read /proc/meminfo", ""};
  const auto value = [&](std::string_view key) -> std::string {
    const auto at = meminfo->find(key);
    if (at == std::string::npos) return "0";
    const auto start = meminfo->find_first_not_of(" \t:", at + key.size());
    const auto end = meminfo->find_first_of(" \n", start);
    return meminfo->substr(start, end - start);
  };
  const std::string total = value("HugePages_Total"), free = value("HugePages_Free"), size = value("Hugepagesize");
  if (total == "0") return {"hugepages", Status::ok, "none reserved: VMs use normal pages", ""};
  return {"hugepages", Status::ok, fmt::format("{} of {} huge pages of {} kB free", free, total, size), ""};
}

Report run_all_checks(const Host& host, const fs::path& sysconf_dir) {
  Report r;
  char name[256] = {};
  r.host = ::gethostname(name, sizeof name - 1) == 0 ? name : "?";
  std::optional<config::Config> cfg;
  r.findings.push_back(check_config(sysconf_dir, cfg));
  const config::Config* c = cfg ? &*cfg : nullptr;
  const auto add = [&](std::vector<Finding> f) { r.findings.insert(r.findings.end(), f.begin(), f.end()); };
  add(check_slurm(host));
  r.findings.push_back(check_kvm(host));
  r.findings.push_back(check_qemu(c));
  add(check_ovs(host, c));
  add(check_nftables(host, c));
  r.findings.push_back(check_state_dirs(host, c));
  add(check_passthrough(host, c));
  r.findings.push_back(check_hugepages(host));
  return r;
}

}  // namespace slurmvm::doctor
