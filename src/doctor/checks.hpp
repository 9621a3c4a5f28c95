// What vm doctor looks at on this host, one function per area, each returning findings
// (report.hpp) with the fix (docs/install.md has the why of each). None changes the host.
// Root sees everything; another user gets `skip` where only root can look (nftables).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "report.hpp"

namespace slurmvm::doctor {

struct Host {
  std::filesystem::path sys = "/sys";
  std::filesystem::path proc = "/proc";
  std::filesystem::path run_dir = "/run/slurm-vm";
  std::string ovsdb_socket = "/run/openvswitch/db.sock";
  bool root = false;
};

// The system configuration (the one the root helpers read): loads cleanly or not. `cfg` gets it.
Finding check_config(const std::filesystem::path& sysconf_dir, std::optional<config::Config>& cfg);
Finding check_kvm(const Host& host);
Finding check_qemu(const config::Config* cfg);
// OVS reachable, its version, and the datapath the site asks for against what the host has.
std::vector<Finding> check_ovs(const Host& host, const config::Config* cfg);
// nftables usable (libnftables and the kernel), IPv4 forwarding, and other tables' forward
// chains that drop by default (they would drop the VMs' reverse NAT and outbound traffic).
std::vector<Finding> check_nftables(const Host& host, const config::Config* cfg);
// Slurm: the configuration slurmctld serves, the plugin in plugstack.conf and the release it
// was built for, Prolog=, Epilog= and PrologFlags.
std::vector<Finding> check_slurm(const Host& host);
Finding check_state_dirs(const Host& host, const config::Config* cfg);
// Locked memory, IOMMU and InfiniBand: needed by VFIO networks only (skip without any).
std::vector<Finding> check_passthrough(const Host& host, const config::Config* cfg);
Finding check_hugepages(const Host& host);

// Every check above, in the order of docs/install.md.
Report run_all_checks(const Host& host, const std::filesystem::path& sysconf_dir);

}  // namespace slurmvm::doctor
