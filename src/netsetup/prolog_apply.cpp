// vm-prolog's changes to the node, in order (prolog_apply.hpp).
#include "netsetup/prolog_apply.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "log.hpp"
#include "netsetup/flows.hpp"
#include "netsetup/host_changes.hpp"
#include "netsetup/job_changes.hpp"
#include "netsetup/device_plan.hpp"
#include "netsetup/job_error.hpp"
#include "netsetup/link_group.hpp"
#include "vfio/ib_guid.hpp"

namespace slurmvm::netsetup {

std::chrono::milliseconds ovs_timeout(std::size_t ports) {
  return std::chrono::seconds(10) + std::chrono::milliseconds(100) * static_cast<long>(ports);
}

namespace {

// 13c. The job's partition key on each of its infiniband networks with VMs here (the job's
//      first node to join allocates it; this node's ports and VFs become its full members),
//      then each device: a VF's GUIDs and policy before it leaves its driver (the guest's
//      driver reads them when it probes), the function on vfio-pci; then, once every function
//      of a group is bound, each VFIO group the user's, so that the undo gives every group back
//      to root before it unbinds anything (a group the user can still open while one of its
//      functions is unbound would make the kernel's unbind wait for it).
void apply_devices(Ledger& ledger, NodeEffects& fx, const PrologJob& j, const std::vector<PlannedDevice>& devices,
                   std::map<std::uint32_t, VmsEntry>& vms) {
  const std::uint32_t job = j.in.job_id;
  const auto& passthrough = j.plan.nets.passthrough;
  std::map<std::uint32_t, std::uint16_t> pkeys;  // by passthrough index
  for (const auto& p : passthrough) {
    if (p.kind != PassthroughKind::infiniband) continue;
    std::vector<std::uint32_t> ranks;
    for (const auto& d : devices) {
      if (d.passthrough == p.index) ranks.push_back(d.rank);
    }
    if (ranks.empty()) continue;
    if (j.pkey_store.path.empty() && !j.pkey_store.etcd()) {
      throw Error("no pkey store configured (slurm-vm.yaml store)", ErrorKind::config);
    }
    const auto host_guids = fx.hca_port_guids(p.host_device);
    const auto members = [&](std::uint16_t pkey) {
      vfio::NodeMembers m{host_guids, {}};
      for (const auto rank : ranks) m.vf_guids.push_back(vfio::vf_port_guid(pkey, rank));
      return m;
    };
    apply(ledger,
          change::PkeyJoin{job, p.name, j.in.node, j.pkey_store.path, j.pkey_store.etcd_endpoints,
                           j.pkey_store.etcd_prefix, j.pkey_store.etcd_tls.ca_cert, j.pkey_store.etcd_tls.client_cert,
                           j.pkey_store.etcd_tls.client_key},
          [&] {
            try {
              pkeys[p.index] = fx.join_pkey(j.pkey_store, p.name, {p.min_pkey, p.max_pkey}, job, j.in.node, members);
            } catch (const vfio::PkeysExhausted& e) {
              // Every pkey of the range held: the job waits for another to end, the node is fine.
              // Any other failure of the store (unreachable, refused, unreadable) is the node's.
              throw JobError(e);
            }
          });
    log_info("job {}: network {}: partition key {:#06x}", job, p.name, pkeys.at(p.index));
  }
  for (const auto& d : devices) {
    const JobPassthrough& p = passthrough.at(d.passthrough);
    if (d.vf) {
      const vfio::VfGuids guids =
          p.kind == PassthroughKind::infiniband
              ? vfio::VfGuids{vfio::vf_node_guid(pkeys.at(p.index), d.rank), vfio::vf_port_guid(pkeys.at(p.index), d.rank)}
              : vfio::VfGuids{vfio::host_vf_node_guid(job, d.rank), vfio::host_vf_port_guid(job, d.rank)};
      const vfio::VfGuids before = fx.vf_guids(d.pf, *d.vf);
      apply(ledger,
            change::VfGuids{job, p.host_device, d.pf, *d.vf, vfio::format_guid(guids.node),
                            vfio::format_guid(guids.port), vfio::format_guid(before.node),
                            vfio::format_guid(before.port)},
            [&] { fx.assign_vf_guids(d.pf, *d.vf, guids); });
    }
    apply(ledger, change::PciVfio{job, d.bdf, d.give_back_to.value_or("")},
          [&] { fx.bind_vfio(d.bdf, d.together); });
    vms.at(d.rank).pci.push_back({p.name, d.bdf});
  }
  std::set<unsigned> owned_groups;
  for (const auto& d : devices) {
    if (!owned_groups.insert(d.group).second) continue;
    apply(ledger, change::VfioOwner{job, d.group, j.in.uid},
          [&] { fx.set_vfio_owner(d.group, static_cast<uid_t>(j.in.uid), j.gid); });
  }
}

}  // namespace

void apply_prolog_changes(Ledger& ledger, NodeEffects& fx, const PrologJob& j) {
  const NodePaths& paths = j.paths;
  const NodePlan& plan = j.plan;
  const std::uint32_t job = j.in.job_id;
  const JobNet* l3 = plan.nets.l3_network();
  const bool gateway = l3 != nullptr && local_vms_on_l3(plan) > 0;
  const std::vector<PortSpec> specs = job_port_specs(plan);
  const auto ovs_deadline = ovs_timeout(specs.size());
  // 10b. The passthrough devices of the local VMs, chosen before anything changes.
  const auto devices = choose_devices(fx, plan, j.in.node);
  VmsFile vms = vms_file(plan, j.ssh_ports);
  if (!specs.empty()) {
    // 11. Node level (kept by the epilog): bridge, tunnel port, base flows (recorded here, sent
    //     with the job's flows in step 16's bundle: until then the new bridge, fail_mode
    //     secure, forwards nothing, and ovs-vswitchd can finish a previous job's port removal
    //     while steps 12-19 run).
    const auto datapath = fx.bridge_datapath(paths.bridge, j.datapath);
    apply(ledger, change::NodeBridge{paths.bridge, datapath},
          [&] { fx.ensure_bridge(paths.bridge, datapath, ovs_deadline); });
    apply(ledger, change::NodeTunnel{paths.bridge, paths.tunnel_port},
          [&] { fx.ensure_tunnel_port(paths.bridge, paths.tunnel_port, ovs_deadline); });
    record(ledger, change::NodeBaseFlows{paths.bridge});
  }

  // 12. IPv4 forwarding, for the gateways' reverse NAT, outbound connections and the DNS
  //     server's upstream, unless the site manages it (manage-ip-forward: false).
  bool enable_forwarding = false;
  if (gateway && (l3->reverse_nat || l3->outbound != config::AllowOutbound::none || l3->dns_server)) {
    if (l3->manage_ip_forward) {
      // Saved now, enabled at step 19 once the table holds the forwarding drop (node_job.hpp).
      apply(ledger, change::IpForward{job}, [&] { fx.save_ip_forward(); });
      enable_forwarding = true;
    } else if (!fx.ip_forward_enabled()) {
      log_warning("job {}: IPv4 forwarding is off on {} and network {} says manage-ip-forward: false: "
                  "its VMs get no reverse NAT (vm ssh), no outbound connections and no names from its dns-server",
                  job, j.in.node, l3->name);
    }
  }

  // 13. One TAP per NIC of each local VM, owned by the job's user; a bridged NIC's TAP is put on
  //     its host bridge, after its filter (table bridge slurm_vm) is in place.
  if (!j.state.bridged.empty()) {
    apply(ledger, change::NatSync{job}, [&] { fx.sync_nat(0, j.state.bridged); });
  }
  const std::uint32_t link_group = tap_link_group(plan.network_id);
  for (const auto& vm : plan.local) {
    for (const auto& nic : vm.nics) {
      const JobNet& net = plan.nets.networks.at(nic.network);
      apply(ledger, change::TapCreate{job, nic.tap, j.in.uid},
            [&] { fx.create_tap({nic.tap, static_cast<uid_t>(j.in.uid), net.tap_mtu, false, link_group}); });
      if (net.kind == NetKind::bridged) {
        apply(ledger, change::TapBridge{job, nic.tap, net.host_bridge},
              [&] { fx.attach_to_bridge(nic.tap, net.host_bridge, net.vlans); });
      }
    }
  }
  // 13b. The job's DHCP and DNS server, jailed in namespaces of its own behind a veth whose near
  //      end joins the bridge with the TAPs (dnsmasq_jail.hpp).
  std::optional<DnsmasqJail> dns_jail;
  if (gateway) {
    fx.make_private_dir(paths.dnsmasq_dir(), 0700);
    DnsmasqConfig cfg = job_dnsmasq(plan);
    cfg.program = paths.dnsmasq;
    dns_jail = DnsmasqJail{plan.dns_port, plan.dns_mac, plan.dns_ip, plan.prefix, plan.gateway_ip, l3->tap_mtu,
                           link_group, paths.dnsmasq_dir() / fmt::format("{}.pid", job),
                           paths.dnsmasq_dir() / fmt::format("{}.log", job)};
    apply(ledger, change::DhcpJail{job, dns_jail->pid_file.string(), dns_jail->log_file.string(), dns_jail->port},
          [&] { fx.start_dnsmasq(cfg, *dns_jail); });
  }

  if (!devices.empty()) apply_devices(ledger, fx, j, devices, vms.vms);

  if (!specs.empty()) {
    // 14. The TAPs, the job's gateway and its DHCP server's veth on the bridge, in one
    //     transaction, committed by OVSDB; ovs-vswitchd opens them while steps 17-19 run
    //     (~10 ms for 11 ports on the test VM, which the prolog used to wait out here).
    std::vector<std::string> names;
    for (const auto& spec : specs) names.push_back(spec.name);
    apply(ledger, change::OvsPorts{job, paths.bridge, names},
          [&] { fx.add_ports(paths.bridge, specs, ovsdb_comment(job), ovs_deadline); });
  }

  // The job's flows (step 16), as text: the node's record (step 17) keeps them for
  // vm-node-restore. Ports are named in it, numbered when the bundle is sent.
  std::string flows;
  const auto nets = job_networks(plan, j.in.nodes, paths.tunnel_port, j.node_ips);
  if (!nets.empty()) flows = job_flows(nets);

  // 17. The node's record of the job (root only): network id, host ports, NAT rules, and what
  //     vm-node-restore needs after an ovs-vswitchd restart (the flows, the gateway).
  JobState job_record = j.state;
  if (!flows.empty()) job_record.bridge = paths.bridge;
  if (gateway) job_record.gateway = JobState::Gateway{plan.gateway_port, plan.gateway_ip, plan.prefix};
  apply(ledger, change::StateWrite{job}, [&] {
    if (!flows.empty()) fx.write_file(paths.flows_file(job), flows, 0600, {});
    fx.write_file(paths.state_file(job), to_json(job_record).dump() + "\n", 0600, {});
  });

  // 18. vms.json for vm-launch.
  apply(ledger, change::JobDirWrite{job}, [&] {
    fx.make_private_dir(paths.job_dir(job), kJobsDirMode);
    fx.write_file(paths.vms_file(job), to_json(vms).dump(2) + "\n", kJobFileMode,
                  FileOwner{j.in.uid, j.gid});
  });

  // 19. The nftables table, rebuilt with this job's rules and its VMs behind the filter (it
  //     names the job's interfaces, whether they exist yet or not).
  if (!plan.local.empty()) apply(ledger, change::NatSync{job}, [&] { fx.sync_nat(0, {}); });

  // 14b. ovs-vswitchd has opened every port of step 14 (each has an OpenFlow port number).
  if (!specs.empty()) fx.await_ports(ovs_deadline);

  if (gateway) {
    // 15. The gateway address on the internal port (ovs-vswitchd creates it asynchronously).
    fx.wait_for_interface(plan.gateway_port, ovs_deadline);
    apply(ledger,
          change::GatewayAddress{job, plan.gateway_port,
                                 fmt::format("{}/{}", format_ipv4(plan.gateway_ip), plan.prefix)},
          [&] { fx.set_interface_ipv4(plan.gateway_port, plan.gateway_ip, plan.prefix); });
  }

  // 16. One atomic bundle: the node's base flows (step 11) and the job's flows under its cookie,
  //     every tunnelled network.
  std::string bundle = specs.empty() ? std::string{} : node_base_flows();
  bundle += flows;
  if (!flows.empty()) {
    apply(ledger, change::JobFlows{job, paths.bridge}, [&] { fx.apply_flows(bundle, ovs_deadline); });
  } else if (!bundle.empty()) {
    fx.apply_flows(bundle, ovs_deadline);
  }

  if (!plan.local.empty()) {
    // The job's TAPs and its DHCP veth are one interface group: recorded last, so that the
    // epilog starts with one RTM_DELLINK for all of them, under one RCU grace period (~20 ms
    // whatever the count, where one per device cost ~25 ms each), and does the other undos
    // while the kernel finishes it (node_effects.hpp). The devices' own entries, undone after
    // it, then find nothing left.
    record(ledger, change::TapsGroup{job, link_group});
  }
  // 19b. IPv4 forwarding on (step 12), now that the table holds the forwarding drop.
  if (enable_forwarding) fx.enable_ip_forward();

  // 19c. The job's dnsmasq, started at 13b, serves: it loaded and bound its ports while the
  //     steps above ran (~20 ms the prolog used to wait out at 13b).
  if (dns_jail) fx.await_dnsmasq(*dns_jail);
  log_info("job {}: node ready ({} VMs{})", job, plan.local.size(),
           j.ssh_ports.empty() ? "" : fmt::format(", ssh ports {}", fmt::join(j.ssh_ports, ",")));
}

}  // namespace slurmvm::netsetup
