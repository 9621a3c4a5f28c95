// The node-local map of a job's VM network attachments, written by the root prolog
// (vm-prolog) before the VMs' step starts: /run/slurm-vm/jobs/<jobid>/vms.json (0644),
//
//   {"network_id": 42,
//    "vms": {"0": {"resource_set": "cluster", "ssh_port": 40022,
//                  "nics": [{"network": "nat-rssh", "kind": "L3", "tap": "svm2a.0",
//                            "mac": "52:54:00:...", "mtu": 1450, "ip": "10.128.0.2",
//                            "prefix": 20, "gateway": "10.128.0.1"},
//                           {"network": "private", "kind": "L2", "tap": "svm2a.1000", ...}]},
//            ...},
//    "hosts": {"vm0": "10.128.0.2", ...}}
//
// with an entry per VM of the job that runs on this node. vm-launch attaches each NIC of the VM
// to the TAP the prolog created (owned by the user) with the MAC it chose, in order (eth0,
// eth1, ...).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slurmvm::launch {

// What a NIC's network is: the job's L3 network (address, gateway, names, reverse NAT), a bare
// L2 segment (no address from slurm-vm), or a host bridge (the site's LAN: DHCP from it).
enum class NicKind { l3, l2, bridged };

struct VmNic {
  std::string network;  // its name in networks.yaml
  NicKind kind = NicKind::l3;
  std::string tap;
  std::string mac;
  std::optional<unsigned> mtu;
  // L3 only.
  std::string ip;
  unsigned prefix = 0;  // 0: not given
  std::string gateway;
};

struct VmNetwork {
  std::string resource_set;  // as the prolog planned the VM's NICs
  std::vector<VmNic> nics;   // eth0 first
  // The L3 NIC's fields again (empty when the VM has none): what vm.json and `vm ssh` use.
  std::string tap;
  std::string mac;
  std::string ip;
  unsigned prefix = 0;
  std::string gateway;
  std::optional<unsigned> mtu;
  std::optional<std::uint16_t> ssh_port;
  // Every VM of the job by name ("vm1" -> its address), for the guest's /etc/hosts.
  std::vector<std::pair<std::string, std::string>> hosts;
};

// <rundir>/jobs/<jobid>/vms.json
std::filesystem::path network_map_path(const std::filesystem::path& run_dir, std::uint32_t job_id);

// This rank's entry of the map text; nullopt when the map has none. Throws Error(ErrorKind::config)
// naming `source` when the text is not a valid map or the entry has bad values (a TAP name that
// is not one, a malformed MAC): they end up in QEMU's option strings.
std::optional<VmNetwork> parse_network_map(std::string_view text, std::uint32_t rank,
                                           std::string_view source);

// Reads the map and returns this VM's entry. Throws Error(ErrorKind::not_found) when the file
// or the entry is missing, saying that the prolog did not prepare the network.
VmNetwork load_vm_network(const std::filesystem::path& run_dir, std::uint32_t job_id,
                          std::uint32_t rank);

}  // namespace slurmvm::launch
