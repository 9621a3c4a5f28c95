// A job's networks from its resource sets (job_networks.hpp).
#include "netsetup/job_networks.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "error.hpp"
#include "job_names.hpp"
#include "netsetup/job_error.hpp"

namespace slurmvm::netsetup {
namespace {

void check_port(const std::string& network, const char* what, int port) {
  if (port < 1 || port > 65535) {
    throw Error(fmt::format("network {}: reverse-nat {} {} is not a port", network, what, port),
                ErrorKind::config);
  }
}

JobNet job_net(const config::Network& net, std::uint32_t index) {
  JobNet j;
  j.name = net.name;
  j.index = index;
  if (const auto* eth = std::get_if<config::EthernetNetwork>(&net.settings)) {
    j.kind = eth->network_layer == config::NetworkLayer::l3 ? NetKind::l3 : NetKind::l2;
    // docs/config.md: `mtu` is the tunnel's; VMs get mtu - 50 (GRE headers).
    if (eth->mtu < 626) {
      throw Error(fmt::format("network {}: mtu {} leaves less than 576 bytes for the VMs", net.name, eth->mtu),
                  ErrorKind::config);
    }
    j.tap_mtu = static_cast<unsigned>(eth->mtu - 50);
    j.host_if_suffix = eth->host_if_suffix;
    if (j.kind == NetKind::l3) {
      j.reverse_nat = eth->reverse_nat;
      if (j.reverse_nat) {
        check_port(net.name, "vm-port", j.reverse_nat->vm_port);
        check_port(net.name, "min-host-port", j.reverse_nat->min_host_port);
        check_port(net.name, "max-host-port", j.reverse_nat->max_host_port);
      }
      j.outbound = eth->allow_outbound;
      for (const auto& a : eth->outbound_allow) {
        OutboundDest d;
        d.to = {a.to.address, static_cast<unsigned>(a.to.prefix_length)};
        if (a.proto != config::OutboundProto::any) d.proto = std::string(config::to_string(a.proto));
        d.min_port = static_cast<std::uint16_t>(a.min_port);
        d.max_port = static_cast<std::uint16_t>(a.max_port);
        j.outbound_allow.push_back(d);
      }
      // Never, with `all` either: this network (0/8), link-local (a cloud node's metadata
      // service hands out the node's credentials at 169.254.169.254), multicast and reserved.
      std::vector<config::Ipv4Network> deny = {{0x00000000, 8}, {0xA9FE0000, 16}, {0xE0000000, 3}};
      deny.insert(deny.end(), eth->cluster_networks.begin(), eth->cluster_networks.end());
      if (eth->allow_outbound == config::AllowOutbound::external) {
        for (const auto& n : config::default_private_networks()) deny.push_back(n);
      }
      for (const auto& n : deny) j.outbound_deny.push_back({n.address, static_cast<unsigned>(n.prefix_length)});
      j.manage_ip_forward = eth->manage_ip_forward;
      j.pool = {eth->int_network.address, static_cast<unsigned>(eth->int_network.prefix_length)};
      j.subnet_prefix = static_cast<unsigned>(
          eth->vm_subnet_prefix.value_or(config::default_vm_subnet_prefix(eth->int_network)));
      // A shorter prefix is padded with zeros (pcocc accepts 1 to 3 octets here).
      for (int i = 0; i < eth->mac_prefix.length && i < 3; ++i) {
        j.mac_prefix[static_cast<std::size_t>(i)] = eth->mac_prefix.octets[static_cast<std::size_t>(i)];
      }
      for (int i = eth->mac_prefix.length; i < 3; ++i) j.mac_prefix[static_cast<std::size_t>(i)] = 0;
      j.domain = eth->domain_name;
      j.dns_search = eth->dns_search;
      j.dns_server = eth->dns_server;
      j.ntp_server = eth->ntp_server;
    }
    return j;
  }
  if (const auto* br = std::get_if<config::BridgedNetwork>(&net.settings)) {
    j.kind = NetKind::bridged;
    if (br->mtu < 576 || br->mtu > 65535) {
      throw Error(fmt::format("network {}: mtu {} is out of range", net.name, br->mtu), ErrorKind::config);
    }
    j.tap_mtu = static_cast<unsigned>(br->mtu);
    j.host_bridge = br->host_bridge;
    j.vlans = br->vlans;
    return j;
  }
  throw Error(fmt::format("network {} of type {} is not a NIC network", net.name, net.type_name()),
              ErrorKind::internal);
}

bool is_passthrough(const config::Network& net) {
  return std::holds_alternative<config::InfinibandNetwork>(net.settings) ||
         std::holds_alternative<config::HostInfinibandNetwork>(net.settings) ||
         std::holds_alternative<config::GenericPciNetwork>(net.settings);
}

JobPassthrough job_passthrough(const config::Network& net, std::uint32_t index) {
  JobPassthrough p;
  p.name = net.name;
  p.index = index;
  if (const auto* ib = std::get_if<config::InfinibandNetwork>(&net.settings)) {
    p.kind = PassthroughKind::infiniband;
    p.host_device = ib->host_device;
    p.min_pkey = ib->min_pkey;
    p.max_pkey = ib->max_pkey;
  } else if (const auto* host = std::get_if<config::HostInfinibandNetwork>(&net.settings)) {
    p.kind = PassthroughKind::host_infiniband;
    p.host_device = host->host_device;
  } else if (const auto* pci = std::get_if<config::GenericPciNetwork>(&net.settings)) {
    p.kind = PassthroughKind::generic_pci;
    for (const auto& a : pci->host_device_addrs) p.device_addrs.push_back(a.str());
    p.host_driver = pci->host_driver;
  }
  return p;
}

}  // namespace

std::string_view to_string(PassthroughKind kind) noexcept {
  switch (kind) {
    case PassthroughKind::infiniband: return "infiniband";
    case PassthroughKind::host_infiniband: return "host-infiniband";
    case PassthroughKind::generic_pci: return "genericpci";
  }
  return "?";
}

std::uint32_t network_key(std::uint32_t job_id, std::uint32_t index) {
  if (job_id == 0 || job_id > kMaxTunnelJobId || index >= kMaxJobNetworks) {
    throw Error(fmt::format("job {} network {} has no tunnel key (job ids above {:#x} are not supported)", job_id, index,
                            kMaxTunnelJobId),
                ErrorKind::config);
  }
  return index << 28 | job_id;
}

AddressPlan JobNetworks::address_plan() const {
  const JobNet* net = l3_network();
  if (net == nullptr) return AddressPlan::default_plan();
  return AddressPlan(net->pool, net->subnet_prefix, net->mac_prefix);
}

std::optional<OutboundRule> JobNetworks::outbound_rule(std::uint32_t job_id, Ipv4Cidr subnet) const {
  const JobNet* net = l3_network();
  if (net == nullptr || net->outbound == config::AllowOutbound::none) return std::nullopt;
  OutboundRule r;
  r.job_id = job_id;
  r.subnet = subnet;
  r.allow = net->outbound_allow;
  r.anywhere = net->outbound == config::AllowOutbound::all || net->outbound == config::AllowOutbound::external;
  if (r.anywhere) r.deny = net->outbound_deny;
  return r;
}

MacAddress nic_mac(MacAddress base, std::uint32_t index) {
  base[2] = static_cast<std::uint8_t>(base[2] ^ (index & 0x0f));
  return base;
}

MacAddress bridged_mac(std::uint32_t job_id, std::uint32_t index, std::uint32_t rank) {
  const std::uint64_t v = (std::uint64_t{job_id & 0x3ffffff} << 16) | (std::uint64_t{index & 0xf} << 12) | (rank & 0xfff);
  MacAddress m{};
  m[0] = static_cast<std::uint8_t>(0x42 | (((v >> 40) & 0x3) << 2));
  for (int i = 1; i < 6; ++i) m[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * (5 - i)));
  return m;
}

JobNetworks choose_job_networks(const config::Config& cfg, const ClusterDef& def,
                                const std::vector<std::string>& group_resource_sets) {
  const auto& groups = def.groups();
  if (!group_resource_sets.empty() && group_resource_sets.size() != groups.size()) {
    throw JobError(fmt::format("SPANK_VM_RESOURCES names {} resource sets for the {} groups of {}",
                               group_resource_sets.size(), groups.size(), def.to_string()),
                   ErrorKind::config);
  }
  JobNetworks out;
  std::vector<const config::ResourceSet*> sets;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const config::ResourceSet* set = nullptr;
    if (group_resource_sets.empty()) {
      set = cfg.default_resource_set();
      if (set == nullptr) {
        throw Error("no resource set is marked default: true", ErrorKind::config);
      }
    } else {
      const auto it = cfg.resource_sets.find(group_resource_sets[g]);
      if (it == cfg.resource_sets.end()) {
        throw JobError(fmt::format("template {}: resource set \"{}\" is not defined in the system's "
                                   "resources.yaml",
                                   groups[g].template_name, group_resource_sets[g].substr(0, 64)),
                       ErrorKind::config);
      }
      set = &it->second;
    }
    if (set->networks.size() > kMaxNicsPerVm + 1) {
      throw JobError(fmt::format("resource set {} has {} networks; a VM has at most {} NICs", set->name,
                                 set->networks.size(), kMaxNicsPerVm + 1),
                     ErrorKind::config);
    }
    for (std::uint32_t i = 0; i < groups[g].count; ++i) sets.push_back(set);
  }
  for (const config::ResourceSet* set : sets) {
    std::vector<std::uint32_t> nics;
    std::vector<std::uint32_t> devices;
    for (const std::string& name : set->networks) {
      const config::Network& net = cfg.networks.at(name);
      if (is_passthrough(net)) {
        auto p = std::find_if(out.passthrough.begin(), out.passthrough.end(),
                              [&](const JobPassthrough& j) { return j.name == name; });
        if (p == out.passthrough.end()) {
          out.passthrough.push_back(job_passthrough(net, static_cast<std::uint32_t>(out.passthrough.size())));
          p = out.passthrough.end() - 1;
        }
        if (std::find(devices.begin(), devices.end(), p->index) != devices.end()) {
          throw JobError(fmt::format("resource set {} names network {} twice", set->name, name), ErrorKind::config);
        }
        devices.push_back(p->index);
        continue;
      }
      auto it = std::find_if(out.networks.begin(), out.networks.end(),
                             [&](const JobNet& n) { return n.name == name; });
      if (it == out.networks.end()) {
        if (out.networks.size() == kMaxJobNetworks) {
          throw JobError(fmt::format("the job's VMs use more than {} networks", kMaxJobNetworks),
                         ErrorKind::config);
        }
        JobNet job_network = job_net(net, static_cast<std::uint32_t>(out.networks.size()));
        if (job_network.kind == NetKind::l3) {
          if (out.l3) {
            throw JobError(fmt::format("the job's VMs use two L3 networks, {} and {}; a job has at most one",
                                       out.networks.at(*out.l3).name, name),
                           ErrorKind::config);
          }
          out.l3 = job_network.index;
        }
        out.networks.push_back(std::move(job_network));
        it = out.networks.end() - 1;
      }
      if (std::find(nics.begin(), nics.end(), it->index) != nics.end()) {
        throw JobError(fmt::format("resource set {} names network {} twice", set->name, name), ErrorKind::config);
      }
      nics.push_back(it->index);
    }
    out.resource_set_of_rank.push_back(set->name);
    out.nics_of_rank.push_back(std::move(nics));
    out.devices_of_rank.push_back(std::move(devices));
  }
  return out;
}

}  // namespace slurmvm::netsetup
