// The prolog's changes as data (job_changes.hpp).
#include "netsetup/job_changes.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm::netsetup {

std::string ovsdb_comment(std::uint32_t job_id) { return fmt::format("slurm-vm prolog job {}", job_id); }

std::size_t local_vms_on_l3(const NodePlan& plan) {
  return static_cast<std::size_t>(
      std::count_if(plan.local.begin(), plan.local.end(), [](const PlannedVm& vm) { return vm.on_l3(); }));
}

std::vector<PortSpec> job_port_specs(const NodePlan& plan) {
  const std::map<std::string, std::string> ids = {{"slurm-vm-job", std::to_string(plan.job_id)}};
  std::vector<PortSpec> specs;
  for (const auto& vm : plan.local) {
    for (const auto& nic : vm.nics) {
      if (!plan.nets.networks.at(nic.network).tunnelled()) continue;
      specs.push_back({nic.tap, "", {}, ids, std::nullopt, std::nullopt});
    }
  }
  if (const JobNet* l3 = plan.nets.l3_network(); l3 != nullptr && local_vms_on_l3(plan) > 0) {
    specs.push_back({plan.gateway_port, "internal", {}, ids, l3->tap_mtu, format_mac(plan.gateway_mac)});
    specs.push_back({plan.dns_port, "", {}, ids, std::nullopt, std::nullopt});
  }
  return specs;
}

namespace {

// The node of each remote VM with a NIC on `net`, as its underlay name.
std::string underlay_of(const JobNet& net, const std::vector<std::string>& nodes, const PlannedVm& vm) {
  return nodes.at(vm.node_index) + net.host_if_suffix;
}

const PlannedNic* nic_on(const PlannedVm& vm, std::uint32_t network) {
  for (const auto& nic : vm.nics) {
    if (nic.network == network) return &nic;
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> underlay_names(const NodePlan& plan, const std::vector<std::string>& nodes) {
  std::vector<std::string> names;
  for (const auto& net : plan.nets.networks) {
    if (!net.tunnelled()) continue;
    for (const auto& vm : plan.remote) {
      if (nic_on(vm, net.index) != nullptr) names.push_back(underlay_of(net, nodes, vm));
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::vector<JobNetwork> job_networks(const NodePlan& plan, const std::vector<std::string>& nodes,
                                     const std::string& tunnel_port,
                                     const std::map<std::string, std::uint32_t>& underlay_ips) {
  std::vector<JobNetwork> out;
  for (const auto& net : plan.nets.networks) {
    if (!net.tunnelled()) continue;
    JobNetwork jn;
    jn.job_id = plan.job_id;
    jn.tunnel_key = network_key(plan.job_id, net.index);
    jn.tunnel_port = tunnel_port;
    jn.l2 = net.kind == NetKind::l2;
    jn.dhcp = net.kind == NetKind::l3;
    for (const auto& vm : plan.local) {
      if (const auto* nic = nic_on(vm, net.index)) jn.local.push_back({nic->tap, nic->mac, nic->ip, false});
    }
    // A node without VMs on this network has nothing to switch for it.
    if (jn.local.empty()) continue;
    if (net.kind == NetKind::l3) {
      jn.local.push_back({plan.gateway_port, plan.gateway_mac, plan.gateway_ip, true});
      jn.local.push_back({plan.dns_port, plan.dns_mac, plan.dns_ip, false, true});
    }
    for (const auto& vm : plan.remote) {
      const auto* nic = nic_on(vm, net.index);
      if (nic == nullptr) continue;
      const std::string name = underlay_of(net, nodes, vm);
      const auto ip = underlay_ips.find(name);
      if (ip == underlay_ips.end()) {
        throw Error(fmt::format("no underlay address for node {} (vm{})", name, vm.rank), ErrorKind::internal);
      }
      jn.remote.push_back({nic->mac, nic->ip, ip->second});
    }
    out.push_back(std::move(jn));
  }
  return out;
}

DnsmasqConfig job_dnsmasq(const NodePlan& plan) {
  const JobNet* l3 = plan.nets.l3_network();
  if (l3 == nullptr) throw Error("job_dnsmasq: the job has no L3 network", ErrorKind::internal);
  DnsmasqConfig cfg;
  cfg.server_ip = plan.dns_ip;
  cfg.gateway_ip = plan.gateway_ip;
  cfg.subnet = plan.subnet;
  cfg.mtu = l3->tap_mtu;
  cfg.domain = l3->domain;
  cfg.dns_search = l3->dns_search;
  cfg.upstream_dns = l3->dns_server;
  cfg.ntp_server = l3->ntp_server;
  for (const auto& vm : plan.all) {
    if (!vm.on_l3()) continue;
    DnsmasqHost h{vm.address.hostname, vm.address.ip, std::nullopt};
    for (const auto& local : plan.local) {
      if (local.rank == vm.rank) h.mac = vm.address.mac;
    }
    cfg.hosts.push_back(std::move(h));
  }
  return cfg;
}

std::vector<NatRule> job_nat_rules(const NodePlan& plan, const std::vector<std::uint16_t>& ssh_ports,
                                   std::uint16_t vm_port) {
  std::vector<NatRule> rules;
  if (ssh_ports.empty()) return rules;
  if (ssh_ports.size() != local_vms_on_l3(plan)) {
    throw Error(fmt::format("{} host ports for {} local VMs on the L3 network", ssh_ports.size(),
                            local_vms_on_l3(plan)),
                ErrorKind::internal);
  }
  std::size_t i = 0;
  for (const auto& vm : plan.local) {
    if (vm.on_l3()) rules.push_back({plan.job_id, vm.rank, ssh_ports[i++], vm.address.ip, vm_port});
  }
  return rules;
}

}  // namespace slurmvm::netsetup
