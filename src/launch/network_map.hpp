// This VM's view of vms.json (vms_file.hpp), the map vm-prolog writes before the VMs' step
// starts: its NICs, in order (eth0, eth1, ...), each attached to the TAP the prolog created
// (owned by the user) with the MAC it chose.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "node_layout.hpp"
#include "vms_file.hpp"

namespace slurmvm::launch {

using slurmvm::NicKind;
using VmNic = slurmvm::VmsNic;

struct VmNetwork {
  std::string resource_set;  // as the prolog planned the VM's NICs
  std::uint32_t network_id = 0;  // the job's (addressing.hpp): its VMs' MACs and addresses follow
  std::vector<VmNic> nics;   // eth0 first
  std::vector<VmsPciDevice> pci;  // host functions on vfio-pci for this VM (passthrough networks)
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

// This rank's entry of the map text; nullopt when the map has none. Throws Error(ErrorKind::config)
// naming `source` when the text is not a valid map or the entry has bad values (a TAP name that
// is not one, a malformed MAC): they end up in QEMU's option strings.
std::optional<VmNetwork> parse_network_map(std::string_view text, std::uint32_t rank,
                                           std::string_view source);

// Reads the map and returns this VM's entry. Throws Error(ErrorKind::not_found) when the file
// or the entry is missing, saying that the prolog did not prepare the network.
VmNetwork load_vm_network(const RunDirLayout& run, std::uint32_t job_id, std::uint32_t rank);

}  // namespace slurmvm::launch
