// vms.json, the one file vm-prolog (root) hands to vm-launch (the job's user) on a node:
// <rundir>/jobs/<jobid>/vms.json, one type written and read by the same code.
//
//   {"hosts": {"vm0": "10.128.0.2", ...},
//    "network_id": 42,
//    "vms": {"0": {"resource_set": "cluster", "ssh_port": 40022,
//                  "nics": [{"network": "nat-rssh", "kind": "L3", "tap": "svm2a.0",
//                            "mac": "52:54:00:...", "mtu": 1450, "ip": "10.128.0.2",
//                            "prefix": 20, "gateway": "10.128.0.1"},
//                           {"network": "private", "kind": "L2", "tap": "svm2a.1000", ...}],
//                  "pci": [{"network": "ib", "host": "0000:3b:00.2"}]},
//            ...}}
//
// An entry per VM of the job on this node, its NICs in order (eth0 first); "hosts" has every VM
// of the job with an address on the L3 network. The reader is strict: what it returns ends up
// in QEMU's option strings, the guest's network-config and /etc/hosts.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace slurmvm {

// What a NIC's network is: the job's L3 network (address, gateway, names, reverse NAT), a bare
// L2 segment (no address from slurm-vm), or a host bridge (the site's LAN: DHCP from it).
enum class NicKind { l3, l2, bridged };
// "L3", "L2", "bridged" (networks.yaml's layer names).
std::string_view to_string(NicKind kind) noexcept;

struct VmsNic {
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

// A host PCI function the prolog bound to vfio-pci for the VM (an InfiniBand VF, a GPU): QEMU's
// -device vfio-pci,host=<bdf>. Its /dev/vfio/<group> is the job's user's.
struct VmsPciDevice {
  std::string network;  // the passthrough network it is for
  std::string bdf;      // "DDDD:BB:SS.F"
};

struct VmsEntry {
  std::string resource_set;  // as the prolog planned the VM's NICs
  std::vector<VmsNic> nics;  // eth0 first
  std::vector<VmsPciDevice> pci;
  std::optional<std::uint16_t> ssh_port;
};

struct VmsFile {
  std::uint32_t network_id = 0;
  std::map<std::uint32_t, VmsEntry> vms;     // by rank: this node's VMs
  std::map<std::string, std::string> hosts;  // "vm1" -> its address, every VM of the job
};

nlohmann::json to_json(const VmsFile& file);
// Throws Error(ErrorKind::config) naming `source` and the place of the first bad value (a TAP
// name that is not one, a malformed MAC or address, an unknown kind, a port out of range).
VmsFile parse_vms_file(std::string_view text, std::string_view source);

}  // namespace slurmvm
