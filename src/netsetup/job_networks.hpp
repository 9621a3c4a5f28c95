// Which networks a job's VMs get, and in which NIC order: each VM's template names a resource
// set (resources.yaml), whose networks are the VM's NICs, eth0 first. The job's networks are
// the distinct networks of all its VMs, numbered in order of first use (VM by VM, NIC by NIC);
// network k of a job is tunnelled under GRE key k << 12 | network id and its VMs' MACs carry k
// (docs/netsetup.md §7). Pure: the prolog feeds it the system configuration and the resource
// set of each group of the cluster definition, as the SPANK plugin resolved them as the user
// (SPANK_VM_RESOURCES). Unit-tested.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vms_file.hpp"
#include "addressing.hpp"
#include "cluster_def.hpp"
#include "config/config.hpp"
#include "netsetup/nat.hpp"

namespace slurmvm::netsetup {

// What a network is on a node: an L3 segment (gateway, DHCP/DNS, NAT; at most one per job), a
// bare L2 segment (both through the node's OVS and GRE tunnel), or a port of a host bridge.
// The kind of a job's network is the kind of the NICs on it in vms.json (vms_file.hpp).
using NetKind = NicKind;

// A job uses at most this many networks (the GRE key keeps 4 bits for the index).
inline constexpr std::uint32_t kMaxJobNetworks = 16;

struct JobNet {
  std::string name;  // in networks.yaml
  NetKind kind = NetKind::l3;
  std::uint32_t index = 0;  // k
  unsigned tap_mtu = 1450;  // ethernet: mtu - 50 (GRE headers); bridged: the network's mtu
  std::string host_if_suffix;  // ethernet: tunnels go to <node><suffix>
  // L3 only.
  std::optional<config::ReverseNat> reverse_nat;
  // allow-outbound (networks.yaml): what the VMs may reach through the node; none: nothing.
  config::AllowOutbound outbound = config::AllowOutbound::none;
  std::vector<OutboundDest> outbound_allow;  // list
  std::vector<Ipv4Cidr> outbound_deny;       // all, external: cluster-networks (+ private ranges)
  bool manage_ip_forward = true;
  // Where the job's subnet comes from (int-network, vm-subnet-prefix, mac-prefix).
  Ipv4Cidr pool{0x0AC80000, 16};
  unsigned subnet_prefix = 24;
  std::array<std::uint8_t, 3> mac_prefix{0x52, 0x54, 0x00};
  std::optional<std::string> domain;
  std::optional<std::string> dns_search;
  std::optional<std::string> dns_server;
  std::optional<std::string> ntp_server;
  // Bridged only.
  std::string host_bridge;
  std::vector<config::Vlan> vlans;

  bool tunnelled() const noexcept { return kind != NetKind::bridged; }
};

// A network that passes a host PCI function through to each VM on it instead of giving it a NIC
// on the node's switch (networks.yaml types infiniband, host-infiniband, genericpci; docs/
// infiniband.md): an SR-IOV VF of the HCA `host_device`, in the job's own partition or the
// host's, or whole devices of `device_addrs`, each VM one of them.
enum class PassthroughKind { infiniband, host_infiniband, generic_pci };
std::string_view to_string(PassthroughKind kind) noexcept;

struct JobPassthrough {
  std::string name;  // in networks.yaml
  PassthroughKind kind = PassthroughKind::infiniband;
  std::uint32_t index = 0;  // in JobNetworks::passthrough
  // infiniband and host-infiniband: the HCA ("mlx5_0").
  std::string host_device;
  // infiniband: the job's partition key comes from [min_pkey, max_pkey].
  std::uint16_t min_pkey = 0;
  std::uint16_t max_pkey = 0;
  // genericpci: the candidate devices, "DDDD:BB:SS.F" or "DDDD:BB:SS" (every function of the
  // slot, passed together: a GPU and its audio function), and the driver they go back to.
  std::vector<std::string> device_addrs;
  std::string host_driver;
};

struct JobNetworks {
  std::vector<JobNet> networks;  // by index
  // Per rank: its resource set, and the index of the network of each NIC, eth0 first.
  std::vector<std::string> resource_set_of_rank;
  std::vector<std::vector<std::uint32_t>> nics_of_rank;
  // The passthrough networks, and per rank the index of each one it is on (none: empty lists).
  std::vector<JobPassthrough> passthrough;
  std::vector<std::vector<std::uint32_t>> devices_of_rank;
  // The job's L3 network, if any.
  std::optional<std::uint32_t> l3;

  const JobNet* l3_network() const noexcept { return l3 ? &networks.at(*l3) : nullptr; }
  // The job's address plan: its L3 network's (int-network cut in /subnet_prefix, mac-prefix);
  // a job with no L3 network has addresses nobody uses, from AddressPlan::default_plan().
  AddressPlan address_plan() const;
  // The job's outbound rule for nat.hpp, when its L3 network allows any outbound traffic.
  std::optional<OutboundRule> outbound_rule(std::uint32_t job_id, Ipv4Cidr subnet) const;
};

// Throws JobError for what the job asked and cannot have: a resource set the system does not
// define, a count of resource sets that does not match the definition's groups, two L3
// networks, more than kMaxJobNetworks networks or kMaxNicsPerVm NICs, a network type slurm-vm
// does not build yet (infiniband, host-infiniband, genericpci); Error(config) for a system
// configuration the prolog cannot use (no default set when one is needed, ports out of range).
// `group_resource_sets` empty: every VM gets the default set.
JobNetworks choose_job_networks(const config::Config& cfg, const ClusterDef& def,
                                const std::vector<std::string>& group_resource_sets);

// The GRE key (tun_id) of the job's network k: k in the top 4 bits, the whole job id in the
// other 28, so that two running jobs never share a key, whatever their network ids (a shared
// key would let one job's VMs send into the other's on every node where only one of them
// runs). Slurm's job ids stay below 2^26 (MaxJobId); larger ones (federation) are refused.
inline constexpr std::uint32_t kMaxTunnelJobId = 0x0fffffff;
std::uint32_t network_key(std::uint32_t job_id, std::uint32_t index);

// The MAC of a VM's NIC on the job's network k: the address plan's MAC (network id, rank) with
// k in the low bits of the third byte, so that one VM's NICs never share a MAC.
MacAddress nic_mac(MacAddress base, std::uint32_t index);

// The MAC of a bridged NIC, which shares the site's LAN with every other job's bridged NICs:
// network ids repeat across nodes, so the whole job id is in it (26 bits: Slurm's MaxJobId is
// below 2^26), then k (4 bits) and the rank (12 bits), in a locally administered unicast
// address whose first byte is 0x42, 0x46, 0x4a or 0x4e.
MacAddress bridged_mac(std::uint32_t job_id, std::uint32_t index, std::uint32_t rank);

}  // namespace slurmvm::netsetup
