// Reverse NAT for `vm ssh`: slurm-vm's own nftables table `ip slurm_vm`, holding one DNAT rule
// per VM (host port on the VM's node -> VM port 22) plus the few filter rules that keep the
// job gateways from forwarding anything else. The table is always rebuilt whole, from the
// node's live jobs, in ONE `nft -f -` batch (atomic: all or nothing), so a job's rules are
// removed by rebuilding without them and nothing else on the host is ever touched: no other
// table, no global policy. The generator is pure and golden-tested; host-port selection reads
// the text of /proc/net/tcp{,6} (pure parser) and the ports other jobs hold.
// See docs/prolog-epilog.md, "Reverse NAT".
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "addressing.hpp"

namespace slurmvm::netsetup {

// The table's family and name. Nothing outside it is ever changed.
inline constexpr const char* kNatTable = "slurm_vm";
// Job gateway ports (OVS internal ports carrying the job subnet's gateway address) are named
// kGatewayPortPrefix + the job id in hex; the filter rules match them by this prefix.
inline constexpr const char* kGatewayPortPrefix = "svmgw";
// The host end of the veth that leads to a job's DHCP and DNS server (dnsmasq_jail.hpp):
// kDnsPortPrefix + the job id in hex. An OVS port; nothing of it reaches the node.
inline constexpr const char* kDnsPortPrefix = "svmdh";
// Every kernel interface slurm-vm makes on a node starts with this: the VMs' TAPs
// (svm<job>.<rank>, job_names.hpp) and the gateways. The prefix is reserved on VM nodes: the
// filter drops what such an interface brings to the node, except on a gateway what belongs to
// a DNAT'ed connection.
inline constexpr const char* kVmInterfacePrefix = "svm";

// One forwarded port: TCP host_port on any local address of the node -> vm_ip:vm_port.
struct NatRule {
  std::uint32_t job_id = 0;
  std::uint32_t rank = 0;
  std::uint16_t host_port = 0;
  std::uint32_t vm_ip = 0;  // host byte order
  std::uint16_t vm_port = 22;
};

// One destination a job's VMs may open connections to (networks.yaml allow-outbound list).
// proto empty: tcp, udp and icmp; ports (tcp or udp only) 0: any.
struct OutboundDest {
  Ipv4Cidr to;
  std::string proto;
  std::uint16_t min_port = 0;
  std::uint16_t max_port = 0;
};

// A job whose network allows outbound connections (networks.yaml `allow-outbound`): its VMs'
// connections leave through the node, masqueraded behind the node's address from an
// unprivileged port (1024-65535: a reserved source port would let a guest's root pass for the
// node's, which NFS `secure` exports, Lustre and rsh trust), tcp, udp and icmp only. `allow`
// is tried first ("unless listed"); with `anywhere` the rest is allowed but for the node's own
// networks (NodeTable::node_networks) and `deny`. Never to another slurm-vm interface.
struct OutboundRule {
  std::uint32_t job_id = 0;
  Ipv4Cidr subnet;  // the job's subnet; its gateway port is kGatewayPortPrefix + hex job id
  std::vector<OutboundDest> allow;
  bool anywhere = false;      // allow-outbound: all or external
  std::vector<Ipv4Cidr> deny;  // cluster-networks (and, for external, the private ranges)
};

// Who may open connections from the node itself to a job's VMs through its gateway: the job's
// owner and root. Everybody else only reaches them through reverse NAT.
struct GatewayOwner {
  std::uint32_t job_id = 0;
  std::uint32_t uid = 0;
};

// A VM's NIC on a site bridge (networks.yaml `bridged`): it shares the site's LAN, so the
// `bridge slurm_vm` table keeps it to its own MAC and off the LAN's infrastructure roles.
struct BridgedPort {
  std::uint32_t job_id = 0;
  std::uint32_t rank = 0;
  std::string tap;
  MacAddress mac{};
  // The network has a `tagged` VLAN: the guest sends 802.1Q frames (the bridge's VLAN filtering
  // decides which); otherwise any tagged frame is dropped.
  bool tagged = false;
};

// A job's DHCP/DNS server (dnsmasq_jail.hpp) forwards the names it does not know to the
// site's `dns-server` (networks.yaml): from its own address to that one, DNS only, masqueraded
// like outbound traffic, whatever the job's allow-outbound says.
struct DnsUpstream {
  std::uint32_t job_id = 0;
  std::uint32_t server = 0;    // the jail's address (no VM can send as it: the flows check)
  std::uint32_t upstream = 0;  // the site's dns-server
};

// Everything the node's table holds.
struct NodeTable {
  std::vector<NatRule> reverse_nat;
  std::size_t vm_jobs = 0;  // jobs with VMs on the node; 0: the table is deleted
  std::vector<OutboundRule> outbound;
  std::vector<GatewayOwner> owners;
  std::vector<DnsUpstream> dns;
  // The node's own addresses and the networks it is on (its underlay, its controller's network
  // when it is on one): no VM reaches them, unless an allow-outbound entry names them.
  std::vector<Ipv4Cidr> node_networks;
  // The node forwarded nothing before slurm-vm turned forwarding on for its gateways: it still
  // routes nothing but the VMs' traffic.
  bool forward_only_vms = false;
  std::vector<BridgedPort> bridged;
};

// The `nft -f` batch that replaces the whole table with exactly these rules (sorted, so the
// text depends only on the sets). It declares the table, deletes it, and, while the node has
// VM jobs, creates it again: prerouting and output nat chains with the DNAT rules (`fib daddr
// type local`, so only connections to the node's own addresses are redirected, and `comment
// "job N vmR"`), the outbound masquerade, and input, forward and output filter chains that
// keep the VMs off the node's own stack and the node's users off the VMs: their interfaces
// (kVmInterfacePrefix) bring the node nothing but replies to its own connections and are
// routed nowhere but where a job's outbound rule (or its DNS server's upstream) says, no tunnel protocol leaves a gateway, and only a job's owner and root open
// connections to its VMs from the node (reverse NAT stays open to all). With no VM job left
// the table simply disappears. A second table, `bridge slurm_vm`, replaced in the same batch,
// holds what bridged NICs may send: their own MAC only (Ethernet and ARP source), no DHCP or
// DHCPv6 server answers, no router advertisements or redirects, no tunnel protocol, no VLAN tag
// (one tag on a network with tagged VLANs, with the same checks behind it; never two).
std::string nat_table_batch(NodeTable table);
// The same with reverse NAT rules only (tests, the simplest cases).
std::string nat_table_batch(std::vector<NatRule> rules, std::size_t vm_jobs);

// Whether the node's tables are simply gone: no VM job, no bridged NIC, forwarding not kept
// off by the table; nat_table_batch() then only deletes the two tables, which apply_nat_table()
// does without libnftables (nftables_netlink.hpp).
bool nat_tables_deleted(const NodeTable& table);

// Makes the kernel's tables what `table` says: nat_table_batch() through apply_nat_batch(), or,
// when they are deleted, the same four messages sent straight over netlink.
void apply_nat_table(NodeTable table);

// Hands the batch to the kernel through libnftables, in this process: the same text `nft -f`
// reads, one netlink transaction, without the ~30 ms of starting nft (docs/prolog-epilog.md).
// Throws Error with libnftables' message when it fails; the kernel then applied nothing.
void apply_nat_batch(const std::string& batch);

// What `nft list WHAT` prints (e.g. "ruleset"), through the same libnftables context: for
// vm doctor's look at the node's other firewall rules. Error(system) when nft refuses.
std::string nft_list(const std::string& what);

// The "st" column of /proc/net/{tcp,udp}: a listening TCP socket, a bound UDP one.
inline constexpr std::string_view kTcpListen = "0A";
inline constexpr std::string_view kUdpBound = "07";

// Local ports of the sockets in `state` in the text of /proc/net/tcp, tcp6, udp or udp6: by
// default listening TCP ports. Lines that do not parse are skipped (the header, a future
// column layout).
std::set<std::uint16_t> parse_listening_ports(std::string_view proc_net_tcp, std::string_view state = kTcpListen);

// The `count` lowest ports of [min_port, max_port] not in `used`, in increasing order. Throws
// Error(config) saying how many were free when the range holds fewer than `count`.
std::vector<std::uint16_t> allocate_host_ports(std::size_t count, std::uint16_t min_port,
                                               std::uint16_t max_port,
                                               const std::set<std::uint16_t>& used);

}  // namespace slurmvm::netsetup
