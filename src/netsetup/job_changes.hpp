// What vm-prolog does to a node for a job, as data: the OVSDB ports (step 14), the job's
// OpenFlow input (step 16) and its NAT rules (step 9), built from the node's plan alone. Pure,
// so that tests/unit/node_job_golden_test.cpp can pin the exact transaction, flow table and
// nft batch of a given job in reviewed files (tests/data/golden/). docs/prolog-epilog.md §2.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "netsetup/dnsmasq.hpp"
#include "netsetup/flows.hpp"
#include "netsetup/nat.hpp"
#include "netsetup/node_plan.hpp"
#include "netsetup/ovsdb.hpp"

namespace slurmvm::netsetup {

// The comment OVSDB writes to its log for the job's transactions.
std::string ovsdb_comment(std::uint32_t job_id);

// Step 14: the local VMs' TAPs on the job's tunnelled (L2, L3) networks, then, when it has an
// L3 network, the job's gateway (an internal port with that network's TAP MTU and the gateway
// MAC) and the host end of its DHCP/DNS server's veth, each tagged
// external_ids:slurm-vm-job=<id>. Bridged NICs are not OVS ports.
std::vector<PortSpec> job_port_specs(const NodePlan& plan);

// The underlay names the job's flows need addresses of: <node><host-if-suffix> for every node
// running a remote VM on each tunnelled network, sorted, without duplicates.
std::vector<std::string> underlay_names(const NodePlan& plan, const std::vector<std::string>& nodes);

// Step 16, one JobNetwork per tunnelled network of the job: local ports (TAPs, and on the L3
// network the gateway, which may send from any IPv4 source) and the remote VMs with their
// node's underlay address; on the L3 network also the DHCP/DNS server's port.
// `underlay_ips` (by underlay name) must hold every name
// underlay_names() gives (Error(internal) otherwise).
std::vector<JobNetwork> job_networks(const NodePlan& plan, const std::vector<std::string>& nodes,
                                     const std::string& tunnel_port,
                                     const std::map<std::string, std::uint32_t>& underlay_ips);

// The job's dnsmasq on this node (step 13b), for its L3 network: DHCP for the local VMs, names
// of all.
DnsmasqConfig job_dnsmasq(const NodePlan& plan);

// The local VMs on the job's L3 network, by rank: those that get a host port for reverse NAT.
std::size_t local_vms_on_l3(const NodePlan& plan);

// Step 9: one reverse-NAT rule per local VM on the L3 network, host port `ssh_ports[i]` to
// `vm_port` of the i-th of them. `ssh_ports` is empty (no reverse NAT) or one per such VM.
std::vector<NatRule> job_nat_rules(const NodePlan& plan, const std::vector<std::uint16_t>& ssh_ports,
                                   std::uint16_t vm_port);

}  // namespace slurmvm::netsetup
