// What vm-prolog and vm-epilog know about a job before they touch the node, computed by pure
// functions (unit-tested): the job's inputs as slurmd hands them over (validated strictly:
// the SPANK value is user input), this node's share of the job's VMs (the same layout the
// `vm` CLI starts them with), their names and addresses, the file vm-launch reads
// (vms.json) and the node's own record of the job (state/<jobid>.json).
// See docs/prolog-epilog.md.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "addressing.hpp"
#include "error.hpp"
#include "netsetup/job_error.hpp"
#include "netsetup/job_networks.hpp"
#include "netsetup/job_state.hpp"
#include "netsetup/nat.hpp"
#include "vm_layout.hpp"

namespace slurmvm::netsetup {

// Reads one variable of the helper's environment; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The job as slurmd describes it to the prolog and epilog.
struct JobInputs {
  // The job's id: SLURM_HET_JOB_ID for a component of a heterogeneous job (its VMs' step, their
  // network, TAP names and this node's records all go by the first component's id), else
  // SLURM_JOB_ID.
  std::uint32_t job_id = 0;
  // SLURM_JOB_ID of this component when the job is heterogeneous (then != job_id but for the
  // first component); 0 for an ordinary job.
  std::uint32_t component_job_id = 0;
  uid_t uid = 0;
  std::optional<gid_t> gid;                 // unset: the uid's primary group (getpwuid)
  std::string node;                         // SLURMD_NODENAME
  std::vector<std::string> nodes;           // the job's nodes, expanded, in order
  std::vector<std::uint32_t> cpus_per_node;  // expanded, one per node
  std::uint32_t vm_count = 0;               // from the cluster definition
  std::string definition;                   // canonical text of SPANK_VM_TEMPLATE
  // SPANK_VM_RESOURCES: the resource set of each group of the definition, as the SPANK plugin
  // resolved the user's templates at submission; empty when unset (every VM: the default set).
  std::vector<std::string> resource_sets;
  // SPANK_VM_NETWORK_ID: a restored cluster's network identity (vm alloc -r), so that its VMs
  // keep the MACs and addresses their memory holds. User input like the rest: range-checked
  // here and in plan_node, and a job on this node already using it refuses the restore.
  std::optional<std::uint32_t> network_id;
  // A heterogeneous job's VMs on the whole job's nodes (with_het_components): `nodes` is then
  // every component's, and this says where each VM is.
  std::vector<std::uint32_t> het_node_of_vm;
};

// True when the job carries a cluster definition (SPANK_VM_TEMPLATE set and not empty).
bool is_vm_job(const EnvLookup& env);

// Strict decimal parsers for slurmd's numbers: digits only, no sign, no leading zero, within
// range. `what` names the variable in the Error(config).
std::uint32_t parse_job_id(std::string_view text);
std::uint32_t parse_unix_id(std::string_view what, std::string_view text);

// The job id alone (what the epilog needs): SLURM_HET_JOB_ID when set, else SLURM_JOB_ID.
// Throws Error(config).
std::uint32_t job_id_from_env(const EnvLookup& env);

// Whether the job is a component of a heterogeneous job (SLURM_HET_JOB_ID set).
bool is_het_component(const JobInputs& in);

// A heterogeneous job's inputs completed with its components as slurmctld gave them
// (het_job.hpp), one per group of the definition: the node list becomes every component's,
// and het_node_of_vm the VMs' places. Error(config) when this component's share (its nodes
// and CPUs from slurmd) is not what slurmctld says; JobError when the definition's groups do
// not match the components (a job submitted by hand with other -n).
JobInputs with_het_components(JobInputs in, std::span<const ComponentAllocation> components);

// Everything, validated: SLURM_JOB_ID, SLURM_JOB_UID, SLURM_JOB_GID (optional),
// SLURMD_NODENAME, SLURM_JOB_NODELIST (else SLURM_NODELIST), SLURM_JOB_CPUS_PER_NODE,
// SPANK_VM_TEMPLATE and SPANK_VM_RESOURCES (optional: comma-separated resource set names, one
// per group). Slurm's own values failing validation is Error(config) (a node fault); a bad
// definition or resource set list is JobError.
JobInputs parse_job_inputs(const EnvLookup& env);

// One NIC of a VM: on the job's network `network` (JobNetworks::networks).
struct PlannedNic {
  std::uint32_t network = 0;
  std::string tap;  // only meaningful for local VMs
  MacAddress mac{};
  std::uint32_t ip = 0;  // L3 only (host byte order)
};

// One VM of the job, as this node sees it.
struct PlannedVm {
  std::uint32_t rank = 0;
  std::uint32_t node_index = 0;
  std::vector<PlannedNic> nics;  // eth0 first
  // Its NIC on the job's L3 network: `tap` is that NIC's, `address` its MAC and IP; the host
  // name is the VM's in any case. Empty tap and ip 0: the VM has no L3 NIC.
  std::string tap;
  VmAddress address;
  bool on_l3() const noexcept { return address.ip != 0; }
};

// This node's share of the job.
struct NodePlan {
  std::uint32_t job_id = 0;
  std::uint32_t network_id = 0;   // the job's GRE keys are network_key(network_id, k)
  JobNetworks nets;               // the networks the job's VMs use, NIC order per rank
  std::uint32_t node_index = 0;   // position of this node in JobInputs::nodes
  VmLayout layout;
  std::vector<PlannedVm> local;   // VMs on this node, by rank
  std::vector<PlannedVm> remote;  // VMs on the job's other nodes, by rank
  std::vector<PlannedVm> all;     // every VM, by rank (vms.json "hosts")
  // The job's L3 network on this node (nets.l3 set): its gateway and subnet.
  std::string gateway_port;       // svmgw<hex job id>: OVS internal port carrying the gateway
  MacAddress gateway_mac{};       // MAC prefix, network id, 0xfff (never a VM's: ranks < 4092)
  std::uint32_t gateway_ip = 0;
  // The job's DHCP and DNS server on this node (dnsmasq_jail.hpp): the host end of its veth,
  // svmdh<hex job id>, an OVS port like the TAPs; the MAC (0xffe) and address of its other end.
  std::string dns_port;
  MacAddress dns_mac{};
  std::uint32_t dns_ip = 0;
  unsigned prefix = 0;
  Ipv4Cidr subnet;                // the job's subnet (AddressPlan::job_subnet)
};

// Throws Error(config) when this node is not in the node list (a node fault) and JobError
// when the job's CPUs cannot hold its VMs or the plan cannot address them.
NodePlan plan_node(const JobInputs& in, const AddressPlan& plan, JobNetworks nets);
// The job's L3 network alone for every VM (the default resource set of the sandbox's
// templates): what tests that are not about resource sets plan with.
JobNetworks single_l3_network(std::uint32_t vm_count);

// svmgw<hex job id>, at most 13 characters.
std::string gateway_port_name(std::uint32_t job_id);
// svmdh<hex job id>, at most 13 characters.
std::string dns_port_name(std::uint32_t job_id);

// vms.json for vm-launch (vms_file.hpp, docs/prolog-epilog.md "Outputs"): an entry for each
// of this node's VMs, "hosts" for every VM on the L3 network. `ssh_ports` is empty (no reverse
// NAT) or one per local VM on the L3 network.
VmsFile vms_file(const NodePlan& plan, const std::vector<std::uint16_t>& ssh_ports);
// Its JSON form (vms_file.hpp).
nlohmann::json vms_json(const NodePlan& plan, const std::vector<std::uint16_t>& ssh_ports);

}  // namespace slurmvm::netsetup
