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

// Step 14: the local VMs' TAPs, then the job's gateway (an internal port with the TAP MTU and
// the gateway MAC), each tagged external_ids:slurm-vm-job=<id>.
std::vector<PortSpec> job_port_specs(const NodePlan& plan, unsigned mtu);

// Step 16: local ports (TAPs, and the gateway, which may send from any IPv4 source) and the
// remote VMs with their node's underlay address. `node_ips` must hold every node running a
// remote VM (Error(internal) otherwise).
JobNetwork job_network(const NodePlan& plan, const std::vector<std::string>& nodes, const std::string& tunnel_port,
                       const std::map<std::string, std::uint32_t>& node_ips, bool dhcp);

// The job's dnsmasq on this node (step 15b): DHCP for the local VMs, names of all.
DnsmasqConfig job_dnsmasq(const NodePlan& plan, const std::filesystem::path& pid_file, unsigned mtu,
                          const std::optional<std::string>& domain, const std::optional<std::string>& upstream_dns,
                          const std::optional<std::string>& ntp_server);

// Step 9: one reverse-NAT rule per local VM, host port `ssh_ports[i]` to `vm_port` of local
// VM i. `ssh_ports` is empty (no reverse NAT) or one per local VM.
std::vector<NatRule> job_nat_rules(const NodePlan& plan, const std::vector<std::uint16_t>& ssh_ports,
                                   std::uint16_t vm_port);

}  // namespace slurmvm::netsetup
