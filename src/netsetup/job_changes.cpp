// The prolog's changes as data (job_changes.hpp).
#include "netsetup/job_changes.hpp"

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm::netsetup {

std::string ovsdb_comment(std::uint32_t job_id) { return fmt::format("slurm-vm prolog job {}", job_id); }

std::vector<PortSpec> job_port_specs(const NodePlan& plan, unsigned mtu) {
  const std::map<std::string, std::string> ids = {{"slurm-vm-job", std::to_string(plan.job_id)}};
  std::vector<PortSpec> specs;
  for (const auto& vm : plan.local) specs.push_back({vm.tap, "", {}, ids, std::nullopt, std::nullopt});
  specs.push_back({plan.gateway_port, "internal", {}, ids, mtu, format_mac(plan.gateway_mac)});
  return specs;
}

JobNetwork job_network(const NodePlan& plan, const std::vector<std::string>& nodes, const std::string& tunnel_port,
                       const std::map<std::string, std::uint32_t>& node_ips, bool dhcp) {
  JobNetwork jn;
  jn.dhcp = dhcp;
  jn.job_id = plan.job_id;
  jn.tunnel_key = plan.network_id;
  jn.tunnel_port = tunnel_port;
  for (const auto& vm : plan.local) jn.local.push_back({vm.tap, vm.address.mac, vm.address.ip, false});
  jn.local.push_back({plan.gateway_port, plan.gateway_mac, plan.gateway_ip, true});
  for (const auto& vm : plan.remote) {
    const auto ip = node_ips.find(nodes.at(vm.node_index));
    if (ip == node_ips.end()) {
      throw Error(fmt::format("no underlay address for node {} (vm{})", nodes.at(vm.node_index), vm.rank),
                  ErrorKind::internal);
    }
    jn.remote.push_back({vm.address.mac, vm.address.ip, ip->second});
  }
  return jn;
}

DnsmasqConfig job_dnsmasq(const NodePlan& plan, const std::filesystem::path& pid_file, unsigned mtu,
                          const std::optional<std::string>& domain, const std::optional<std::string>& upstream_dns,
                          const std::optional<std::string>& ntp_server) {
  DnsmasqConfig cfg;
  cfg.pid_file = pid_file;
  cfg.interface = plan.gateway_port;
  cfg.gateway_ip = plan.gateway_ip;
  cfg.subnet = plan.subnet;
  cfg.mtu = mtu;
  cfg.domain = domain;
  cfg.upstream_dns = upstream_dns;
  cfg.ntp_server = ntp_server;
  for (const auto& vm : plan.all) {
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
  if (ssh_ports.size() != plan.local.size()) {
    throw Error(fmt::format("{} host ports for {} local VMs", ssh_ports.size(), plan.local.size()),
                ErrorKind::internal);
  }
  for (std::size_t i = 0; i < plan.local.size(); ++i) {
    rules.push_back({plan.job_id, plan.local[i].rank, ssh_ports[i], plan.local[i].address.ip, vm_port});
  }
  return rules;
}

}  // namespace slurmvm::netsetup
