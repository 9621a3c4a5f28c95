// The virtual networks of networks.yaml (system only, pcocc's format): `name: {type: T,
// settings: {...}}`, one typed struct per network type. Resource sets name these networks; the
// helpers that build them on nodes read these structs, never YAML. Every setting is checked when
// the file is loaded, so a typo fails `vm template list`, not a job's prolog.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/net_addresses.hpp"
#include "config/yaml_reader.hpp"

namespace slurmvm::config {

enum class NetworkLayer { l2, l3 };
// What a job's VMs may open connections to through their node (docs/security.md). pcocc's
// values keep their meaning: `none`, and `all` (anywhere but the node itself and its networks);
// `external` is anywhere but the cluster's own networks too; `list` is only the `allow` rules.
enum class AllowOutbound { none, all, external, list };
enum class VlanMode { native, tagged, untagged };

std::string_view to_string(NetworkLayer layer) noexcept;
std::string_view to_string(AllowOutbound allow) noexcept;
std::string_view to_string(VlanMode mode) noexcept;

// Host ports [min_host_port, max_host_port] are handed out to VMs so that host:port reaches
// vm:vm_port (`vm ssh` uses this on port 22).
struct ReverseNat {
  int vm_port = 0;
  int min_host_port = 0;
  int max_host_port = 0;
};

// One destination VMs may reach when allow-outbound is a list: `{to: CIDR[, proto: tcp|udp|
// icmp][, ports: N | "N-M"]}` (no proto: tcp, udp and icmp; ports need tcp or udp).
enum class OutboundProto { any, tcp, udp, icmp };
std::string_view to_string(OutboundProto proto) noexcept;
struct OutboundAllow {
  Ipv4Network to;
  OutboundProto proto = OutboundProto::any;
  int min_port = 0;  // 0: any port
  int max_port = 0;
};

// The networks `external` keeps VMs away from besides cluster-networks: RFC 1918, shared
// address space (RFC 6598) and link-local.
std::vector<Ipv4Network> default_private_networks();

// `ethernet` / `eth`: a private Ethernet network per virtual cluster, tunnelled between nodes.
// L3 adds a gateway, DHCP and DNS, 1:1 NAT of int-network addresses into ext-network, and
// reverse NAT; L2 is a bare segment.
struct EthernetNetwork {
  std::string dev_prefix;  // host devices are <dev-prefix>_xbr, _ibrN, _tapN, ...
  NetworkLayer network_layer = NetworkLayer::l3;
  // Job subnets are carved from int-network, one /vm-subnet-prefix per virtual network (each
  // job's gateway lives in its node's own stack, so running jobs cannot share one subnet as in
  // pcocc). ext-network is pcocc's 1:1 NAT range: slurm-vm routes VMs at their own addresses,
  // so it only has to be well formed.
  Ipv4Network int_network{0x0AC80000, 16};  // 10.200.0.0/16, as the VMs see it
  Ipv4Network ext_network{0x0AC90000, 16};  // 10.201.0.0/16, as the hosts see it
  std::optional<int> vm_subnet_prefix;      // unset: default_vm_subnet_prefix(int_network)
  MacPrefix mac_prefix{{0x52, 0x54, 0x00, 0x00}, 3};
  std::uint64_t mac_start_offset = 0;
  int mtu = 1500;                          // of the tunnels; VMs get mtu - 50 over DHCP
  std::string host_if_suffix;              // tunnel to <host><suffix>, e.g. "-ib" for IPoIB
  std::optional<std::string> domain_name;  // unset: derived from the host's domain
  std::optional<std::string> dns_search;
  std::optional<std::string> dns_server;  // an IPv4 address
  std::optional<std::string> ntp_server;
  AllowOutbound allow_outbound = AllowOutbound::none;
  std::vector<OutboundAllow> outbound_allow;  // allow-outbound given as a list
  // The site's own networks (controllers, storage, management) that no VM may reach with
  // `all` or `external`, besides the node's own networks, which the prolog reads on the node.
  std::vector<Ipv4Network> cluster_networks;
  // true: the prolog turns IPv4 forwarding on while a job needs it (and then forwards only
  // the VMs' traffic); false: the site manages it, and a node without forwarding gives its VMs
  // no reverse NAT or outbound connections.
  bool manage_ip_forward = true;
  std::optional<ReverseNat> reverse_nat;
};

// `infiniband` / `ib`: an SR-IOV virtual function per VM, isolated in a partition key taken from
// [min_pkey, max_pkey] for each virtual cluster; OpenSM learns the partitions from a generated
// file.
struct InfinibandNetwork {
  std::string host_device;  // the physical function, e.g. mlx5_0
  std::uint16_t min_pkey = 0;
  std::uint16_t max_pkey = 0;
  std::string opensm_daemon;           // process to signal after the partition file changes
  std::string opensm_partition_cfg;    // the generated file
  std::string opensm_partition_tpl;    // its static part
  std::optional<std::string> license;  // a Slurm license requested per job using the network
};

// `host-infiniband` / `hostib`: a virtual function on the host's own partitions (no isolation).
struct HostInfinibandNetwork {
  std::string host_device;
};

struct Vlan {
  int vid = 0;
  VlanMode mode = VlanMode::tagged;
};

// `bridged` / `bridged-ethernet`: VM TAPs plugged into an existing host bridge.
struct BridgedNetwork {
  std::string host_bridge;
  std::string tap_prefix;
  int mtu = 1500;
  std::vector<Vlan> vlans;
};

// `genericpci`: one of a list of host PCI devices (GPUs, ...) passed through with VFIO.
struct GenericPciNetwork {
  std::vector<PciAddress> host_device_addrs;
  std::string host_driver;  // the driver the devices go back to after the job
};

// The order is that of network_type_names below.
using NetworkSettings = std::variant<EthernetNetwork, InfinibandNetwork, HostInfinibandNetwork,
                                     BridgedNetwork, GenericPciNetwork>;

struct Network {
  std::string name;
  std::filesystem::path file;
  int line = 0;
  NetworkSettings settings;

  // The canonical type name: ethernet, infiniband, host-infiniband, bridged or genericpci.
  std::string_view type_name() const noexcept;
};

using NetworkMap = std::map<std::string, Network, std::less<>>;

// The job subnet prefix for a pool: 64 subnets where that leaves between 252 and 4092 VMs
// (the rank bits of the MAC) per job: /22 for a /16 (1020 VMs), /20 for a /9 (2047 subnets),
// /24 for a /20; a pool too small for /24s is cut in 16 (/28 for a /24).
int default_vm_subnet_prefix(const Ipv4Network& pool) noexcept;

// Reads the root value of networks.yaml (empty: no networks). Throws Error(ErrorKind::config).
NetworkMap parse_networks(const Value& root);

}  // namespace slurmvm::config
