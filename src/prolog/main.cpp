// vm-prolog: the root job prolog (slurm.conf Prolog=, PrologFlags=Alloc,Contain). Builds what
// this node's VMs of a job need, each change recorded in the node's ledger before it is made,
// and rolls its own changes back when a step fails. The numbered steps below are the contract
// of docs/prolog-epilog.md, section 2; keep both in the same order.
//
// Exit codes: 0 done, or not a VM job, or a failure caused by the job (rolled back, reported
// in <rundir>/jobs/<id>/error for vm-launch to show the user); 1 a node fault (rolled back,
// Slurm drains the node); 2 a node fault whose rollback failed too (the ledger is kept for the
// epilog).
#include <arpa/inet.h>
#include <netdb.h>
#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "addressing.hpp"
#include "config/config.hpp"
#include "config/net_addresses.hpp"
#include "error.hpp"
#include "config/identity.hpp"
#include "log.hpp"
#include "main_guard.hpp"
#include "cluster_def.hpp"
#include "netsetup/bridge_port.hpp"
#include "netsetup/dnsmasq_jail.hpp"
#include "netsetup/flows.hpp"
#include "netsetup/host_changes.hpp"
#include "netsetup/host_routes.hpp"
#include "netsetup/job_changes.hpp"
#include "netsetup/ledger.hpp"
#include "netsetup/link_group.hpp"
#include "netsetup/nat.hpp"
#include "netsetup/node_job.hpp"
#include "netsetup/node_plan.hpp"
#include "netsetup/ovsdb.hpp"
#include "netsetup/reclaim.hpp"
#include "netsetup/resolve_nodes.hpp"
#include "netsetup/tap.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace slurmvm;
using namespace slurmvm::netsetup;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitNodeFault = 1;
constexpr int kExitRollbackFailed = 2;

constexpr auto kNodeLockTimeout = 60s;
constexpr auto kResolveTimeout = 10s;
constexpr auto kOvsTimeout = 10s;
constexpr auto kDnsmasqTimeout = 10s;
// ovs-vswitchd's userspace datapath needs about 1 s per 64 ports added or removed
// (bench/node-setup): every OVS deadline grows by this much per port of the job on the node.
constexpr auto kOvsTimeoutPerPort = 100ms;

std::chrono::milliseconds ovs_timeout(std::size_t ports) {
  return kOvsTimeout + kOvsTimeoutPerPort * static_cast<long>(ports);
}

// The process environment, as the pure parsers (node_plan.hpp) read it.
const auto env_lookup = config::process_env;

// 3. The site configuration (system files only: a root helper never reads a user's files; the
// user's templates chose their resource sets at submission, SPANK_VM_RESOURCES) and the job's
// networks from it.
struct SiteChoice {
  config::OvsSettings ovs;  // slurm-vm.yaml: the integration bridge and its datapath
  JobNetworks nets;
};

SiteChoice load_site(const NodePaths& paths, const JobInputs& in) {
  const auto cfg = with_context(fmt::format("site configuration in {}", paths.sysconf_dir.string()), [&] {
    return config::load_config(config::ConfigDirs{paths.sysconf_dir, std::nullopt});
  });
  return {cfg.site.ovs, choose_job_networks(cfg, ClusterDef::parse(in.definition), in.resource_sets)};
}

gid_t primary_group(uid_t uid) {
  passwd pw{};
  passwd* result = nullptr;
  std::string buf(16384, '\0');
  const int rc = ::getpwuid_r(uid, &pw, buf.data(), buf.size(), &result);
  if (rc != 0 || result == nullptr) {
    throw Error::from_errno(fmt::format("SLURM_JOB_GID is unset and uid {} has no passwd entry", uid),
                            rc);
  }
  return pw.pw_gid;
}

// The bridge's datapath: the site's choice (slurm-vm.yaml ovs.datapath), else the existing
// bridge's, else `system` when the kernel module is loaded, else `netdev` (userspace; the
// sandbox and CI). An existing bridge of another datapath is refused by ensure_bridge.
std::string bridge_datapath(OvsdbClient& client, const std::string& bridge, config::OvsDatapath wanted) {
  if (wanted != config::OvsDatapath::auto_detect) return std::string(config::to_string(wanted));
  const nlohmann::json ops = nlohmann::json::array(
      {{{"op", "select"}, {"table", "Bridge"}, {"where", {{"name", "==", bridge}}},
        {"columns", {"datapath_type"}}}});
  const auto result = client.transact(ops, kOvsTimeout);
  const auto& rows = result.at(0).at("rows");
  if (!rows.empty()) return rows.at(0).at("datapath_type").get<std::string>();
  return ::access("/sys/module/openvswitch", F_OK) == 0 ? "system" : "netdev";
}

std::set<std::uint16_t> listening_ports() {
  std::set<std::uint16_t> used;
  for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(file);
    if (!in) continue;  // no IPv6
    std::stringstream ss;
    ss << in.rdbuf();
    const auto ports = parse_listening_ports(ss.str());
    used.insert(ports.begin(), ports.end());
  }
  return used;
}

// Writes the message vm-launch shows the user (the prolog's own output reaches only slurmd's
// log), readable by the job's user only (root's when slurmd's uid did not parse). Best effort:
// this runs while reporting another failure.
void write_error_file(const NodePaths& paths, std::uint32_t job_id, const std::string& message) {
  try {
    FileOwner owner;
    try {
      owner.uid = parse_unix_id("SLURM_JOB_UID", env_lookup("SLURM_JOB_UID").value_or(""));
      const auto gid = env_lookup("SLURM_JOB_GID");
      owner.gid = gid && !gid->empty() ? parse_unix_id("SLURM_JOB_GID", *gid) : primary_group(owner.uid);
    } catch (const std::exception&) {
      owner = {};
    }
    ensure_private_dir(paths.run_dir, 0755);
    ensure_private_dir(paths.jobs_dir(), kJobsDirMode);
    ensure_private_dir(paths.job_dir(job_id), kJobsDirMode);
    write_file_atomic(paths.job_dir(job_id) / "error", message + "\n", kJobFileMode, owner);
  } catch (const std::exception& e) {
    log_error("job {}: cannot write the error file: {}", job_id, e.what());
  }
}

// How to ask slurmctld about this node's jobs: slurmd gives the prolog SLURM_CONF; anything but
// an absolute path is ignored (squeue then finds the configuration the usual way).
SlurmQuery slurm_query() {
  SlurmQuery q;
  if (const auto conf = env_lookup("SLURM_CONF"); conf && !conf->empty()) {
    const fs::path p(*conf);
    if (p.is_absolute() && p.lexically_normal() == p && conf->find('\n') == std::string::npos) {
      q.slurm_conf = *conf;
    } else {
      log_warning("ignoring SLURM_CONF={}: not an absolute, normalised path", *conf);
    }
  }
  return q;
}

// Whether the node routes for the gateways: always when slurm-vm manages forwarding (step 12
// turns it on), else when the site left it on.
bool forwarding_available(const JobNet& l3, const fs::path& sysctl) {
  if (l3.manage_ip_forward) return true;
  try {
    return read_small_file(sysctl).rfind('1', 0) == 0;
  } catch (const Error&) {
    return false;
  }
}

class Prolog {
 public:
  Prolog(NodePaths paths, JobInputs in) : paths_(std::move(paths)), in_(std::move(in)) {}

  void run() {
    // 2. (continued) The group, when slurmd did not name it.
    const gid_t gid = in_.gid ? *in_.gid : primary_group(in_.uid);
    // 3. Site settings and the job's networks.
    auto site = load_site(paths_, in_);
    paths_.bridge = site.ovs.bridge;
    // 4. This node's share of the job.
    const auto address_plan = site.nets.address_plan();
    const auto plan = plan_node(in_, address_plan, std::move(site.nets));
    log_info("job {}: {} VMs, {} on this node ({}), network id {}, {} networks", in_.job_id, in_.vm_count,
             plan.local.size(), in_.node, plan.network_id, plan.nets.networks.size());
    // 4b. No more OVS ports here than the site allows: a job too large for the node is the
    //     job's fault, not a node drain after overrun deadlines.
    if (const auto ports = job_port_specs(plan).size();
        ports > static_cast<std::size_t>(site.ovs.max_ports_per_node)) {
      throw JobError(fmt::format("the job puts {} OVS ports (its VMs' NICs, its gateway and DHCP server) on node {} "
                                 "({} VMs there); the site allows "
                                 "{} per node (slurm-vm.yaml ovs.max-ports-per-node): use fewer VMs per node "
                                 "(more CPUs per VM, or more nodes)",
                                 ports, in_.node, plan.local.size(), site.ovs.max_ports_per_node),
                     ErrorKind::config);
    }
    // 5. Underlay addresses of the nodes running the job's other VMs on each tunnelled network:
    //    the address of <node><host-if-suffix> (networks.yaml; e.g. "-ib" for tunnels over IPoIB).
    std::map<std::string, std::uint32_t> node_ips;
    if (!plan.local.empty()) node_ips = resolve_nodes(underlay_names(plan, in_.nodes), kResolveTimeout);
    // 5b. The host bridges of the local VMs' bridged NICs (the site's, never created here).
    for (const auto& vm : plan.local) {
      for (const auto& nic : vm.nics) {
        const JobNet& net = plan.nets.networks.at(nic.network);
        if (net.kind == NetKind::bridged) {
          with_context(fmt::format("network {}", net.name),
                       [&] { check_host_bridge(net.host_bridge, !net.vlans.empty()); });
        }
      }
    }
    const JobNet* l3 = plan.nets.l3_network();
    const std::size_t l3_vms = local_vms_on_l3(plan);

    // 6. The node lock, held to the end.
    const auto lock = NodeLock::acquire(paths_, kNodeLockTimeout);
    ensure_private_dir(paths_.jobs_dir(), kJobsDirMode);
    ensure_private_dir(paths_.state_dir(), 0700);

    // 7. Leftovers of this job (a crash, a requeued job whose epilog never ran): undo them
    //    first. Then those of ended jobs whose epilog never ran (slurmd or the node died).
    if (fs::exists(ledger_path(paths_.ledger_dir(), in_.job_id))) {
      log_warning("job {}: undoing a ledger left by an earlier attempt", in_.job_id);
      const auto report = clean_job(paths_, in_.job_id);
      if (!report.ok()) {
        throw Error(fmt::format("the job's old ledger could not be undone: {}",
                                report.failures.front().error));
      }
    }
    reclaim_stale_jobs(paths_, slurm_query(), in_.node, in_.job_id);

    // 8. The network id must not be in use on this node.
    const auto others = read_job_states(paths_, in_.job_id);
    for (const auto& s : others) {
      if (s.network_id == plan.network_id && !plan.local.empty()) {
        throw JobError(fmt::format("virtual network {} is still in use by job {} on node {}; "
                                   "retry when that job has ended",
                                   plan.network_id, s.job_id, in_.node),
                       ErrorKind::config);
      }
    }

    // 8b. The job's subnet must not shadow anything the node reaches already (host_routes.hpp).
    if (l3 != nullptr && l3_vms > 0) refuse_shadowing_subnet(plan.subnet, l3->name, l3->pool, in_.node);

    // 9. Host ports for reverse NAT: free in the range, not held by another job, not listened on.
    std::vector<std::uint16_t> ports;
    // A node without VMs of the job holds no network id (0: none).
    JobState state;
    state.job_id = in_.job_id;
    state.network_id = plan.local.empty() ? 0 : plan.network_id;
    for (const auto& vm : plan.local) {
      for (const auto& nic : vm.nics) {
        const JobNet& net = plan.nets.networks.at(nic.network);
        if (net.kind == NetKind::bridged) {
          const bool tagged = std::any_of(net.vlans.begin(), net.vlans.end(),
                                          [](const config::Vlan& v) { return v.mode == config::VlanMode::tagged; });
          state.bridged.push_back({in_.job_id, vm.rank, nic.tap, nic.mac, tagged});
        }
      }
    }
    if (l3 != nullptr && l3_vms > 0) {
      state.owner = in_.uid;
      // No forwarding, no outbound: a site that manages forwarding itself and left it off.
      if (forwarding_available(*l3, paths_.ip_forward_sysctl)) {
        state.outbound = plan.nets.outbound_rule(in_.job_id, plan.subnet);
        // Its DHCP/DNS server reaches the site's dns-server through the gateway.
        if (l3->dns_server) {
          const auto upstream = config::parse_ipv4(*l3->dns_server);
          if (!upstream) throw Error("dns-server is not an IPv4 address: " + *l3->dns_server, ErrorKind::config);
          state.dns = DnsUpstream{in_.job_id, plan.dns_ip, *upstream};
        }
      }
    }
    if (l3 != nullptr && l3->reverse_nat && l3_vms > 0) {
      auto used = listening_ports();
      for (const auto& s : others) {
        for (const auto& r : s.nat) used.insert(r.host_port);
      }
      try {
        ports = allocate_host_ports(l3_vms, static_cast<std::uint16_t>(l3->reverse_nat->min_host_port),
                                    static_cast<std::uint16_t>(l3->reverse_nat->max_host_port), used);
      } catch (const Error& e) {
        throw JobError(e);
      }
      state.nat = job_nat_rules(plan, ports, static_cast<std::uint16_t>(l3->reverse_nat->vm_port));
    }

    // 10. The ledger. From here on every change is recorded first, and a failure rolls back.
    std::optional<Ledger> ledger = Ledger::open(paths_.ledger_dir(), in_.job_id);
    try {
      apply(*ledger, plan, site.ovs, gid, node_ips, state, ports);
    } catch (...) {
      ledger.reset();  // release its lock: the rollback takes it again
      rollback();
      throw;
    }
  }

  bool rollback_failed() const noexcept { return rollback_failed_; }

 private:
  void apply(Ledger& ledger, const NodePlan& plan, const config::OvsSettings& ovs, gid_t gid,
             const std::map<std::string, std::uint32_t>& node_ips, const JobState& state,
             const std::vector<std::uint16_t>& ports) {
    const std::uint32_t job = in_.job_id;
    const std::string comment = ovsdb_comment(job);
    const JobNet* l3 = plan.nets.l3_network();
    const bool gateway = l3 != nullptr && local_vms_on_l3(plan) > 0;
    const std::vector<PortSpec> specs = job_port_specs(plan);
    const auto ovs_deadline = ovs_timeout(specs.size());
    std::optional<OvsdbClient> client;
    if (!specs.empty()) {
      client.emplace(OvsdbClient::connect(paths_.ovsdb_socket));
      Vswitch vs(*client, ovs_deadline);
      // 11. Node level (kept by the epilog): bridge, tunnel port, base flows.
      const auto datapath = bridge_datapath(*client, paths_.bridge, ovs.datapath);
      record(ledger, change::NodeBridge{paths_.bridge, datapath});
      vs.ensure_bridge(paths_.bridge, datapath);
      record(ledger, change::NodeTunnel{paths_.bridge, paths_.tunnel_port});
      vs.ensure_tunnel_port(paths_.bridge, paths_.tunnel_port);
      record(ledger, change::NodeBaseFlows{paths_.bridge});
      auto ofctl = paths_.ofctl();
      ofctl.timeout = ovs_deadline;
      apply_flows(ofctl, node_base_flows());
    }

    // 12. IPv4 forwarding, for the gateways' reverse NAT and outbound connections, unless the
    //     site manages it (manage-ip-forward: false).
    if (gateway && (l3->reverse_nat || l3->outbound != config::AllowOutbound::none || l3->dns_server)) {
      if (l3->manage_ip_forward) {
        record(ledger, change::IpForward{job});
        enable_ip_forward(paths_);
      } else if (!forwarding_available(*l3, paths_.ip_forward_sysctl)) {
        log_warning("job {}: IPv4 forwarding is off on {} and network {} says manage-ip-forward: false: "
                    "its VMs get no reverse NAT (vm ssh), no outbound connections and no names from its dns-server",
                    job, in_.node, l3->name);
      }
    }

    // 13. One TAP per NIC of each local VM, owned by the job's user; a bridged NIC's TAP is
    //     put on its host bridge, after its filter (table bridge slurm_vm) is in place.
    if (!state.bridged.empty()) {
      record(ledger, change::NatSync{job});
      sync_nat(paths_, 0, state.bridged);
    }
    const std::uint32_t link_group = tap_link_group(plan.network_id);
    for (const auto& vm : plan.local) {
      for (const auto& nic : vm.nics) {
        const JobNet& net = plan.nets.networks.at(nic.network);
        record(ledger, change::TapCreate{job, nic.tap, in_.uid});
        create_tap({nic.tap, static_cast<uid_t>(in_.uid), net.tap_mtu, false, link_group});
        if (net.kind == NetKind::bridged) {
          record(ledger, change::TapBridge{job, nic.tap, net.host_bridge});
          attach_to_bridge(nic.tap, net.host_bridge, net.vlans);
        }
      }
    }
    if (!plan.local.empty()) {
      // Recorded after them so that it is undone first: the epilog deletes all of the job's
      // TAPs at once (~25 ms for 64) instead of one unregister at a time (~30 ms each).
      record(ledger, change::TapsGroup{job, link_group});
    }

    // 13b. The job's DHCP and DNS server, jailed in namespaces of its own behind a veth whose
    //      near end joins the bridge with the TAPs (dnsmasq_jail.hpp).
    if (gateway) {
      ensure_private_dir(paths_.dnsmasq_dir(), 0700);
      DnsmasqConfig cfg = job_dnsmasq(plan);
      cfg.program = paths_.dnsmasq;
      DnsmasqJail jail{plan.dns_port, plan.dns_mac, plan.dns_ip, plan.prefix, plan.gateway_ip, l3->tap_mtu,
                       link_group, paths_.dnsmasq_dir() / fmt::format("{}.pid", job),
                       paths_.dnsmasq_dir() / fmt::format("{}.log", job)};
      record(ledger, change::DhcpJail{job, jail.pid_file.string(), jail.log_file.string(), jail.port});
      start_jailed_dnsmasq(cfg, jail, kDnsmasqTimeout);
    }

    if (!specs.empty()) {
      // 14. The TAPs and the job's gateway port on the bridge, in one transaction.
      Vswitch vs(*client, ovs_deadline);
      std::vector<std::string> names;
      for (const auto& spec : specs) names.push_back(spec.name);
      record(ledger, change::OvsPorts{job, paths_.bridge, names});
      vs.add_ports(paths_.bridge, specs, comment);
    }

    if (gateway) {
      // 15. The gateway address on the internal port (ovs-vswitchd creates it asynchronously).
      wait_for_interface(plan.gateway_port, ovs_deadline);
      record(ledger, change::GatewayAddress{job, plan.gateway_port,
                                            fmt::format("{}/{}", format_ipv4(plan.gateway_ip), plan.prefix)});
      set_interface_ipv4(plan.gateway_port, plan.gateway_ip, plan.prefix);
    }

    // 16. The job's flows under its cookie, every tunnelled network in one bundle.
    std::string flows;
    if (const auto nets = job_networks(plan, in_.nodes, paths_.tunnel_port, node_ips); !nets.empty()) {
      flows = job_flows(nets);
      record(ledger, change::JobFlows{job, paths_.bridge});
      auto ofctl = paths_.ofctl();
      ofctl.timeout = ovs_deadline;
      apply_flows(ofctl, flows);
    }

    // 17. The node's record of the job (root only): network id, host ports, NAT rules, and
    //     what vm-node-restore needs after an ovs-vswitchd restart (the flows, the gateway).
    JobState job_record = state;
    if (!flows.empty()) job_record.bridge = paths_.bridge;
    if (gateway) job_record.gateway = JobState::Gateway{plan.gateway_port, plan.gateway_ip, plan.prefix};
    record(ledger, change::StateWrite{job});
    if (!flows.empty()) write_file_atomic(paths_.flows_file(job), flows, 0600);
    write_file_atomic(paths_.state_file(job), to_json(job_record).dump() + "\n", 0600);

    // 18. vms.json for vm-launch.
    record(ledger, change::JobDirWrite{job});
    ensure_private_dir(paths_.job_dir(job), kJobsDirMode);
    write_file_atomic(paths_.job_dir(job) / "vms.json", vms_json(plan, ports).dump(2) + "\n", kJobFileMode,
                      FileOwner{in_.uid, gid});

    // 19. The nftables table, rebuilt with this job's rules and its VMs behind the filter.
    if (!plan.local.empty()) {
      record(ledger, change::NatSync{job});
      sync_nat(paths_);
    }
    log_info("job {}: node ready ({} VMs{})", job, plan.local.size(),
             ports.empty() ? "" : fmt::format(", ssh ports {}", fmt::join(ports, ",")));
  }

  void rollback() {
    try {
      const auto report = undo_ledger(paths_.ledger_dir(), in_.job_id,
                                      change_undo_handlers(paths_, in_.job_id));
      for (const auto& f : report.failures) {
        log_error("job {}: rollback: ledger line {} ({}): {}", in_.job_id, f.line, f.op, f.error);
      }
      rollback_failed_ = !report.ok();
    } catch (const std::exception& e) {
      log_error("job {}: rollback failed: {}", in_.job_id, e.what());
      rollback_failed_ = true;
    }
  }

  NodePaths paths_;
  JobInputs in_;
  bool rollback_failed_ = false;
};

int run_main() {
  // 1. Not a VM job: nothing to do, nothing loaded.
  if (!is_vm_job(env_lookup)) return kExitOk;

  // 2. Inputs. Without a valid job id nothing can be reported to the user.
  const NodePaths paths = node_paths_from_env(env_lookup);
  const std::uint32_t job_id = job_id_from_env(env_lookup);
  std::optional<Prolog> prolog;
  try {
    prolog.emplace(paths, parse_job_inputs(env_lookup));
    prolog->run();
    return kExitOk;
  } catch (const JobError& e) {
    // The job's own fault: the node is fine. vm-launch shows the message to the user.
    log_error("job {}: {}", job_id, e.what());
    write_error_file(paths, job_id, fmt::format("vm-prolog on {}: {}",
                                                env_lookup("SLURMD_NODENAME").value_or("?"),
                                                e.what()));
    return prolog && prolog->rollback_failed() ? kExitRollbackFailed : kExitOk;
  } catch (const std::exception& e) {
    log_error("job {}: node fault: {}", job_id, e.what());
    write_error_file(paths, job_id,
                     fmt::format("vm-prolog on {}: node fault (the node is drained): {}",
                                 env_lookup("SLURMD_NODENAME").value_or("?"), e.what()));
    return prolog && prolog->rollback_failed() ? kExitRollbackFailed : kExitNodeFault;
  }
}

}  // namespace

int main() {
  slurmvm::set_log_sink(slurmvm::helper_sink("vm-prolog"));
  return slurmvm::guarded_main(run_main, kExitNodeFault);
}
