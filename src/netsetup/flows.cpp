#include "netsetup/flows.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "error.hpp"
#include "netsetup/tap.hpp"
#include "deadline.hpp"
#include "netsetup/openflow_bundle.hpp"

namespace slurmvm::netsetup {
namespace {

std::string mac_hex(const MacAddress& m) {
  std::uint64_t v = 0;
  for (auto b : m) v = (v << 8) | b;
  return fmt::format("0x{:012x}", v);
}

// One flow line; `match` and `actions` are comma-joined already.
std::string flow(std::uint64_t cookie, int table, int priority, const std::string& match,
                 const std::string& actions) {
  return fmt::format("cookie=0x{:016x},table={},priority={}{}{} actions={}\n", cookie, table,
                     priority, match.empty() ? "" : ",", match, actions);
}

// ARP responder (docs/design.md §7.3): turn the request into the reply in place and send it back
// out of the port it came in by: eth_dst := eth_src, eth_src := MAC, op := 2 (reply),
// tha := sha, tpa := spa, sha := MAC, spa := IP.
std::string arp_reply_actions(const MacAddress& mac, std::uint32_t ip) {
  return fmt::format(
      "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:{},load:0x2->NXM_OF_ARP_OP[],"
      "move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],"
      "load:{}->NXM_NX_ARP_SHA[],load:0x{:08x}->NXM_OF_ARP_SPA[],in_port",
      format_mac(mac), mac_hex(mac), ip);
}

// Table 0, both kinds of network: from the tunnel, only this job's key sent by one of this
// job's other nodes comes to this job's tables (tun_src: anyone who can send GRE to the node's
// underlay address could otherwise inject frames under a key they guessed).
std::string tunnel_ingress(const JobNetwork& net, std::uint64_t c) {
  std::vector<std::uint32_t> nodes;
  for (const auto& r : net.remote) {
    if (std::find(nodes.begin(), nodes.end(), r.node_ip) == nodes.end()) nodes.push_back(r.node_ip);
  }
  std::sort(nodes.begin(), nodes.end());
  std::string out;
  for (const auto ip : nodes) {
    out += flow(c, kTableIngress, kPrioForward,
                fmt::format("in_port={},tun_id={},tun_src={}", net.tunnel_port, net.tunnel_key, format_ipv4(ip)),
                fmt::format("resubmit(,{})", kTableFromTunnel));
  }
  return out;
}

// Table 1, both kinds of network: unicast by MAC to a local port, or to the remote VM's node
// through the tunnel.
std::string unicast_from_local(const JobNetwork& net, std::uint64_t c, const std::string& key) {
  std::string out;
  for (const auto& p : net.local) {
    out += flow(c, kTableFromLocal, kPrioForward, fmt::format("{},dl_dst={}", key, format_mac(p.mac)),
                "output:" + p.port);
  }
  for (const auto& r : net.remote) {
    out += flow(c, kTableFromLocal, kPrioForward, fmt::format("{},dl_dst={}", key, format_mac(r.mac)),
                fmt::format("set_field:{}->tun_dst,output:{}", format_ipv4(r.node_ip), net.tunnel_port));
  }
  return out;
}

// A bare L2 segment (JobNetwork::l2): sources checked by MAC, unicast by MAC, broadcast and
// multicast to the segment's other local ports and to each of its other nodes once.
std::string l2_network_flows(const JobNetwork& net) {
  const std::uint64_t c = job_cookie(net.job_id);
  const std::string key = fmt::format("tun_id={}", net.tunnel_key);
  const std::string& gre = net.tunnel_port;
  std::string out;
  for (const auto& p : net.local) {
    out += flow(c, kTableIngress, kPrioForward, fmt::format("in_port={},dl_src={}", p.port, format_mac(p.mac)),
                fmt::format("set_field:{}->tun_id,resubmit(,{})", net.tunnel_key, kTableFromLocal));
    out += flow(c, kTableIngress, kPrioJobDrop, "in_port=" + p.port, "drop");
  }
  out += tunnel_ingress(net, c);

  std::string to_local;
  for (const auto& p : net.local) to_local += (to_local.empty() ? "output:" : ",output:") + p.port;
  // One copy per node, whatever its number of VMs on the segment.
  std::vector<std::uint32_t> nodes;
  for (const auto& r : net.remote) {
    if (std::find(nodes.begin(), nodes.end(), r.node_ip) == nodes.end()) nodes.push_back(r.node_ip);
  }
  std::string to_all = to_local;
  for (const auto ip : nodes) {
    to_all += fmt::format("{}set_field:{}->tun_dst,output:{}", to_all.empty() ? "" : ",", format_ipv4(ip), gre);
  }
  const std::string group = fmt::format("{},dl_dst=01:00:00:00:00:00/01:00:00:00:00:00", key);

  out += unicast_from_local(net, c, key);
  // (OpenFlow never outputs a frame to the port it came in by: the sender gets no copy.)
  out += flow(c, kTableFromLocal, kPrioL2Flood, group, to_all);
  out += flow(c, kTableFromLocal, kPrioJobDrop, key, "drop");

  for (const auto& p : net.local) {
    out += flow(c, kTableFromTunnel, kPrioForward, fmt::format("{},dl_dst={}", key, format_mac(p.mac)),
                "output:" + p.port);
  }
  out += flow(c, kTableFromTunnel, kPrioL2Flood, group, to_local);
  out += flow(c, kTableFromTunnel, kPrioJobDrop, key, "drop");
  return out;
}

std::string network_flows(const JobNetwork& net) {
  if (net.job_id == 0) throw Error("job flows: job id 0 is reserved", ErrorKind::internal);
  if (net.tunnel_key == 0) throw Error("job flows: tunnel key 0 is reserved", ErrorKind::internal);
  validate_ifname(net.tunnel_port);
  for (const auto& p : net.local) validate_ifname(p.port);
  if (net.l2) return l2_network_flows(net);

  const std::uint64_t c = job_cookie(net.job_id);
  const std::string key = fmt::format("tun_id={}", net.tunnel_key);
  const std::string gre = net.tunnel_port;
  std::string out;

  // Table 0: what each local port may send. The job's network is written into tun_id right
  // away: it is the job's "network register" in tables 1 and 2 and already the right GRE key
  // for frames that leave through the tunnel.
  for (const auto& p : net.local) {
    const std::string in = fmt::format("in_port={},dl_src={}", p.port, format_mac(p.mac));
    const std::string go = fmt::format("set_field:{}->tun_id,resubmit(,{})", net.tunnel_key,
                                       kTableFromLocal);
    if (p.any_source_ip) {
      out += flow(c, kTableIngress, kPrioForward, in + ",ip", go);
    } else {
      out += flow(c, kTableIngress, kPrioForward, in + ",ip,nw_src=" + format_ipv4(p.ip), go);
    }
    // ARP must claim the port's own MAC and IP (an ARP probe from 0.0.0.0 is dropped, so a
    // guest's duplicate-address detection never sees a conflict). The node's router port is the
    // exception for the IP: Linux asks ARP questions from the packet's own source address
    // (arp_announce=0), e.g. the node's underlay address for a connection the node itself
    // makes to a VM through reverse NAT.
    const std::string arp_match =
        p.any_source_ip ? fmt::format("{},arp,arp_sha={}", in, format_mac(p.mac))
                        : fmt::format("{},arp,arp_spa={},arp_sha={}", in, format_ipv4(p.ip), format_mac(p.mac));
    out += flow(c, kTableIngress, kPrioForward, arp_match, go);
    out += flow(c, kTableIngress, kPrioJobDrop, "in_port=" + p.port, "drop");
  }
  // DHCP before the VM has an address: requests to the DHCP server's port only, its
  // broadcast replies (a client may ask for them) to this node's VMs only.
  if (net.dhcp) {
    const LocalPort* server = nullptr;
    std::string to_vms;
    for (const auto& p : net.local) {
      if (p.dhcp_server) {
        server = &p;
      } else if (!p.any_source_ip) {
        to_vms += (to_vms.empty() ? "output:" : ",output:") + p.port;
      }
    }
    if (server == nullptr) throw Error("job flows: DHCP needs a DHCP server port", ErrorKind::internal);
    for (const auto& p : net.local) {
      if (p.any_source_ip || p.dhcp_server) continue;
      out += flow(c, kTableIngress, kPrioDhcp,
                  fmt::format("in_port={},dl_src={},udp,nw_src=0.0.0.0,nw_dst=255.255.255.255,tp_src=68,tp_dst=67",
                              p.port, format_mac(p.mac)),
                  "output:" + server->port);
    }
    if (!to_vms.empty()) {
      out += flow(c, kTableIngress, kPrioDhcp,
                  fmt::format("in_port={},dl_src={},dl_dst=ff:ff:ff:ff:ff:ff,udp,nw_src={},tp_src=67,tp_dst=68",
                              server->port, format_mac(server->mac), format_ipv4(server->ip)),
                  to_vms);
    }
  }
  out += tunnel_ingress(net, c);

  // Table 1: frames from local ports. ARP for any IP of the job is answered here; unicast goes
  // to the local port or to the remote VM's node; no broadcast is ever needed.
  for (const auto& p : net.local) {
    out += flow(c, kTableFromLocal, kPrioArpResponder,
                fmt::format("{},arp,arp_op=1,arp_tpa={}", key, format_ipv4(p.ip)),
                arp_reply_actions(p.mac, p.ip));
  }
  for (const auto& r : net.remote) {
    out += flow(c, kTableFromLocal, kPrioArpResponder,
                fmt::format("{},arp,arp_op=1,arp_tpa={}", key, format_ipv4(r.ip)),
                arp_reply_actions(r.mac, r.ip));
  }
  out += unicast_from_local(net, c, key);
  out += flow(c, kTableFromLocal, kPrioJobDrop, key, "drop");

  // Table 2: frames from other nodes go to local ports only (never back into the tunnel).
  for (const auto& p : net.local) {
    out += flow(c, kTableFromTunnel, kPrioForward, fmt::format("{},dl_dst={}", key, format_mac(p.mac)),
                "output:" + p.port);
  }
  out += flow(c, kTableFromTunnel, kPrioJobDrop, key, "drop");
  return out;
}

}  // namespace

std::uint64_t job_cookie(std::uint32_t job_id) noexcept { return kCookieTag | job_id; }

std::string job_flows(const std::vector<JobNetwork>& nets) {
  if (nets.empty()) throw Error("job flows: no network", ErrorKind::internal);
  std::string out = fmt::format("delete cookie=0x{:016x}/-1\n", job_cookie(nets.front().job_id));
  for (const auto& net : nets) {
    if (net.job_id != nets.front().job_id) throw Error("job flows: networks of two jobs", ErrorKind::internal);
    out += network_flows(net);
  }
  return out;
}

std::string job_flows(const JobNetwork& net) { return job_flows(std::vector<JobNetwork>{net}); }

std::string node_base_flows() {
  std::string out;
  for (int table : {kTableIngress, kTableFromLocal, kTableFromTunnel}) {
    out += flow(kNodeCookie, table, kPrioNodeDrop, "", "drop");
  }
  return out;
}

void apply_flows(const OpenFlowTarget& target, const std::string& flows, const NumberPorts& number_ports) {
  with_context("applying OpenFlow rules", [&] {
    const auto lines = openflow::parse_flows(flows);
    const auto names = openflow::port_names(lines);
    const auto ports = names.empty() ? openflow::PortNumbers{} : number_ports(names);
    openflow::commit_bundle(target.socket, lines, ports, deadline_in(target.timeout));
  });
}

void delete_job_flows(const OpenFlowTarget& target, std::uint32_t job_id) {
  with_context(fmt::format("deleting the OpenFlow rules of job {}", job_id), [&] {
    openflow::FlowLine del;
    del.kind = openflow::FlowLine::Kind::delete_cookie;
    del.cookie = job_cookie(job_id);
    openflow::commit_bundle(target.socket, {del}, {}, deadline_in(target.timeout));
  });
}

}  // namespace slurmvm::netsetup
