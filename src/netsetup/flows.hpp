// OpenFlow rules of one job on a node's integration bridge, as ovs-ofctl flow text (a pure
// function, golden-tested), applied and removed atomically as OpenFlow bundles under the job's
// cookie, in-process (openflow_text.hpp parses the text, openflow_wire.hpp encodes it). All MACs and IPs of a virtual cluster are known in advance (addressing is
// deterministic), so nothing is learned or flooded: unicast goes straight to its port or to
// its node through the one flow-based GRE port, ARP is answered on the node, the rest is
// dropped. See docs/netsetup.md for the tables and priority bands.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "addressing.hpp"

namespace slurmvm::netsetup {

// Tables: 0 classifies by in_port (and checks sources), 1 switches frames from local ports,
// 2 switches frames from the tunnel.
inline constexpr int kTableIngress = 0;
inline constexpr int kTableFromLocal = 1;
inline constexpr int kTableFromTunnel = 2;

// Priority bands, disjoint so a job's rules never shadow each other by accident:
inline constexpr int kPrioArpResponder = 3000;  // t1: answer ARP for the job's IPs
inline constexpr int kPrioDhcp = 2500;          // t0: DHCP between the VMs and the DHCP server
inline constexpr int kPrioForward = 2000;       // t0: accepted sources; t1/t2: unicast by MAC
inline constexpr int kPrioL2Flood = 1500;       // t1/t2 (L2 networks): broadcast and multicast
inline constexpr int kPrioJobDrop = 100;        // all tables: the rest of the job's traffic
inline constexpr int kPrioNodeDrop = 0;         // node base flows: whatever no job claims

// Cookies: the high 16 bits say "slurm-vm", the low 32 bits carry the job id, so a job's
// flows are deleted with one `cookie=C/-1` and nobody else's are touched.
inline constexpr std::uint64_t kCookieTag = 0x5356ULL << 48;  // "SV"
std::uint64_t job_cookie(std::uint32_t job_id) noexcept;
// The node's base flows (default drops) carry this cookie (job id 0 is never a Slurm job).
inline constexpr std::uint64_t kNodeCookie = kCookieTag;

// A port of this node that carries the job's traffic.
struct LocalPort {
  std::string port;  // OVS port name (a TAP), validated as an interface name
  MacAddress mac;
  std::uint32_t ip = 0;  // host byte order
  // A router port (the job's gateway for reverse NAT) forwards traffic of any source IP;
  // a VM port may only send as its own IP.
  bool any_source_ip = false;
  // The job's DHCP server (dnsmasq_jail.hpp): it alone gets the VMs' DHCP broadcasts, and it
  // alone may broadcast DHCP answers to them. It sends as its own MAC and IP like a VM.
  bool dhcp_server = false;
};

// A VM of the job on another node.
struct RemoteVm {
  MacAddress mac;
  std::uint32_t ip = 0;       // host byte order
  std::uint32_t node_ip = 0;  // the node's underlay address, host byte order (tun_dst)
};

struct JobNetwork {
  std::uint32_t job_id = 0;
  std::uint32_t tunnel_key = 0;   // network_key(network id, k): the GRE key
  std::string tunnel_port;        // the node's flow-based GRE port name
  std::vector<LocalPort> local;
  std::vector<RemoteVm> remote;
  // The dhcp_server port serves DHCP to this node's VMs: a VM's DHCP broadcasts (from
  // 0.0.0.0, before it has an address) go to it and nowhere else, and its broadcast replies go
  // to this node's VM ports. The only broadcast the job's network carries.
  bool dhcp = false;
  // An L2 segment: the VMs' IP addresses are theirs to choose, so ports are checked by MAC
  // only, nothing answers ARP, and broadcast and multicast frames go to the segment's other
  // local ports and once to each node with VMs on it (never back into the tunnel).
  bool l2 = false;
};

// The flow text, in `ovs-ofctl add-flows` syntax (one flow per line). Its first line is
// "delete cookie=C/-1", so applying it replaces the job's flows atomically (idempotent).
// Every network must belong to the same job.
std::string job_flows(const std::vector<JobNetwork>& nets);
std::string job_flows(const JobNetwork& net);

// The node's base flows: a lowest-priority drop in each table, under kNodeCookie. They also
// replace the NORMAL flow a bridge starts with, so nothing is switched by MAC learning.
std::string node_base_flows();

// A bridge's OpenFlow management socket ("<ovsdb run dir>/<bridge>.mgmt", which ovs-vswitchd
// opens for every bridge) and how long one bundle may take.
struct OpenFlowTarget {
  std::string socket;
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
};

// Numbers the ports the flows name (in_port=, output:; sorted, each once), e.g. from OVSDB's
// Interface.ofport (Vswitch::port_numbers). Not called when the flows name no port.
using NumberPorts = std::function<std::map<std::string, std::uint32_t>(const std::vector<std::string>& names)>;

// Applies `flows` as one atomic OpenFlow 1.4 bundle, in-process (openflow_bundle.hpp): all or
// nothing. Throws Error(internal) for text flows.cpp would not write, Error with Open
// vSwitch's reason and the refused flow's line when it refuses one.
void apply_flows(const OpenFlowTarget& target, const std::string& flows, const NumberPorts& number_ports);
// Deletes the flows under the job's cookie in every table, in one bundle. Deleting flows that
// are gone succeeds.
void delete_job_flows(const OpenFlowTarget& target, std::uint32_t job_id);

}  // namespace slurmvm::netsetup
