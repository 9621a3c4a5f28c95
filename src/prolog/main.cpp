// vm-prolog: the root job prolog (slurm.conf Prolog=, PrologFlags=Alloc,Contain). Builds what
// this node's VMs of a job need, each change recorded in the node's ledger before it is made,
// and rolls its own changes back when a step fails. The numbered steps below (1-10) and in
// netsetup/prolog_apply.cpp (11-19, the changes) are the contract of docs/prolog-epilog.md,
// section 2; keep both in the same order.
//
// Exit codes: 0 done, or not a VM job, or a failure caused by the job (rolled back, reported
// in <rundir>/jobs/<id>/error for vm-launch to show the user); 1 a node fault (rolled back,
// Slurm drains the node); 2 a node fault whose rollback failed too (the ledger is kept for the
// epilog).
#include <pwd.h>
#include <signal.h>

#include <chrono>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <string>

#include <fmt/format.h>

#include "cluster_def.hpp"
#include "config/config.hpp"
#include "config/net_addresses.hpp"
#include "error.hpp"
#include "file_read.hpp"
#include "log.hpp"
#include "main_guard.hpp"
#include "malloc_reuse.hpp"
#include "netsetup/bridge_port.hpp"
#include "netsetup/het_job.hpp"
#include "netsetup/host_changes.hpp"
#include "netsetup/host_routes.hpp"
#include "netsetup/job_changes.hpp"
#include "netsetup/ledger.hpp"
#include "netsetup/nat.hpp"
#include "netsetup/node_job.hpp"
#include "netsetup/node_plan.hpp"
#include "netsetup/prolog_apply.hpp"
#include "netsetup/reclaim.hpp"
#include "netsetup/resolve_nodes.hpp"
#include "netsetup/sock_diag.hpp"

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

// The process environment, as the pure parsers (node_plan.hpp) read it.
const auto env_lookup = config::process_env;

// 3. The site configuration (system files only: a root helper never reads a user's files; the
// user's templates chose their resource sets at submission, SPANK_VM_RESOURCES) and the job's
// networks from it.
struct SiteChoice {
  config::OvsSettings ovs;  // slurm-vm.yaml: the integration bridge and its datapath
  JobNetworks nets;
  vfio::PkeyStoreSpec pkey_store;  // slurm-vm.yaml store: the partition keys of infiniband networks
};

SiteChoice load_site(const NodePaths& paths, const JobInputs& in) {
  const auto cfg = with_context(fmt::format("site configuration in {}", paths.sysconf_dir.string()), [&] {
    return config::load_config(config::ConfigDirs{paths.sysconf_dir, std::nullopt});
  });
  auto nets = choose_job_networks(cfg, ClusterDef::parse(in.definition), in.resource_sets);
  const bool infiniband = std::any_of(nets.passthrough.begin(), nets.passthrough.end(),
                                      [](const JobPassthrough& p) { return p.kind == PassthroughKind::infiniband; });
  return {cfg.site.ovs, std::move(nets), infiniband ? vfio::store_spec(cfg.site.store) : vfio::PkeyStoreSpec{}};
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
    write_file_atomic(paths.error_file(job_id), message + "\n", kJobFileMode, owner);
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
    // 2. (continued) The group, when slurmd did not name it. A heterogeneous job's other
    //    components, which slurmd does not describe: from slurmctld (het_job.hpp).
    const gid_t gid = in_.gid ? *in_.gid : primary_group(in_.uid);
    if (is_het_component(in_)) {
      const auto components = query_het_components(slurm_query(), in_.job_id);
      in_ = with_het_components(std::move(in_), components);
    }
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

    // 7. A heterogeneous job's components sharing this node: the first one's prolog built the
    //    node's share for all (the plan is the whole job's), so a sibling's has nothing to do.
    if (is_het_component(in_)) {
      for (const auto& s : read_job_states(paths_)) {
        if (s.job_id == in_.job_id && s.built_by != 0 && s.built_by != in_.component_job_id) {
          log_info("job {}: component {} built this node's share already; nothing to do for component {}",
                   in_.job_id, s.built_by, in_.component_job_id);
          return;
        }
      }
    }
    //    Leftovers of this job (a crash, a requeued job whose epilog never ran): undo them
    //    first. Then those of ended jobs whose epilog never ran (slurmd or the node died).
    if (fs::exists(ledger_path(paths_.ledger_dir(), in_.job_id))) {
      log_warning("job {}: undoing a ledger left by an earlier attempt", in_.job_id);
      const auto report = clean_job(paths_, in_.job_id);
      if (!report.ok()) {
        throw Error(fmt::format("the job's old ledger could not be undone: {}",
                                report.failures.front().error));
      }
    }
    // A job with a slurmstepd here runs: only the others are slurmctld's to judge (no
    // question at all on a node whose other VM jobs all run).
    reclaim_stale_jobs(paths_, slurm_query(), in_.node, in_.job_id, "/proc");

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
    state.built_by = in_.component_job_id;
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
      auto used = listening_tcp_ports();
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
      RealNodeEffects effects(paths_);
      apply_prolog_changes(*ledger, effects,
                           {paths_, in_, plan, site.ovs.datapath, gid, node_ips, state, ports, site.pkey_store});
    } catch (...) {
      ledger.reset();  // release its lock: the rollback takes it again
      rollback();
      throw;
    }
  }

  bool rollback_failed() const noexcept { return rollback_failed_; }

 private:
  void rollback() {
    try {
      RealNodeEffects effects(paths_);
      const auto report = undo_ledger(paths_.ledger_dir(), in_.job_id,
                                      change_undo_handlers(effects, paths_, in_.job_id), std::chrono::seconds(10),
                                      [&] { effects.settle(); });
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
  // A write to a pipe whose reader died (a child that failed) is an error to report and roll
  // back, not a silent death; and children must stay ours to wait for, whatever slurmd left
  // these two set to.
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGCHLD, SIG_DFL);
  slurmvm::reuse_freed_memory();
  slurmvm::set_log_sink(slurmvm::helper_sink("vm-prolog"));
  return slurmvm::guarded_main(run_main, kExitNodeFault);
}
