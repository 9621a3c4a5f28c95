#include "netsetup/node_plan.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include <fmt/format.h>

#include "cluster_def.hpp"
#include "job_names.hpp"
#include "slurm_lists.hpp"

namespace slurmvm::netsetup {
namespace {

// Longer than any definition a person types; keeps a hostile value from costing anything.
constexpr std::size_t kMaxDefinitionLength = 4096;
constexpr std::size_t kMaxListLength = 65536;

std::string required(const EnvLookup& env, const std::string& name) {
  auto v = env(name);
  if (!v || v->empty()) {
    throw Error(fmt::format("{} is not set: slurmd did not describe the job", name),
                ErrorKind::config);
  }
  return *v;
}

std::uint64_t parse_decimal(std::string_view what, std::string_view text, std::uint64_t max) {
  std::uint64_t v = 0;
  const bool digits_only =
      !text.empty() && text.size() <= 10 &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits_only || (text.size() > 1 && text[0] == '0') ||
      std::from_chars(text.data(), text.data() + text.size(), v).ec != std::errc{} || v > max) {
    throw Error(fmt::format("{}: \"{}\" is not a number in [0, {}]", what,
                            text.substr(0, std::min<std::size_t>(text.size(), 32)), max),
                ErrorKind::config);
  }
  return v;
}

// Node names go into log lines and name lookups: hostname characters only.
void validate_node_name(std::string_view what, std::string_view name) {
  const bool ok = !name.empty() && name.size() <= 64 && name[0] != '-' && name[0] != '.' &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
                  });
  if (!ok) {
    throw Error(fmt::format("{}: \"{}\" is not a valid node name", what,
                            name.substr(0, std::min<std::size_t>(name.size(), 64))),
                ErrorKind::config);
  }
}

}  // namespace

bool is_vm_job(const EnvLookup& env) {
  const auto v = env("SPANK_VM_TEMPLATE");
  return v && !v->empty();
}

std::uint32_t parse_job_id(std::string_view text) {
  const auto v = parse_decimal("SLURM_JOB_ID", text, std::numeric_limits<std::uint32_t>::max() - 1);
  if (v == 0) throw Error("SLURM_JOB_ID: 0 is not a job id", ErrorKind::config);
  return static_cast<std::uint32_t>(v);
}

static std::uint32_t job_id_of_env(const EnvLookup& env) { return parse_job_id(required(env, "SLURM_JOB_ID")); }

std::uint32_t parse_unix_id(std::string_view what, std::string_view text) {
  // (uid_t)-1 means "no change" to chown(2) and TUNSETOWNER: never a real owner.
  return static_cast<std::uint32_t>(
      parse_decimal(what, text, std::numeric_limits<std::uint32_t>::max() - 1));
}

std::uint32_t job_id_from_env(const EnvLookup& env) {
  // slurmd runs the prolog and epilog once per component of a heterogeneous job, each with its
  // own SLURM_JOB_ID and the first component's as SLURM_HET_JOB_ID (docs/design.md §7.10).
  if (const auto het = env("SLURM_HET_JOB_ID"); het && !het->empty()) {
    const auto v = parse_decimal("SLURM_HET_JOB_ID", *het, std::numeric_limits<std::uint32_t>::max() - 1);
    if (v == 0) throw Error("SLURM_HET_JOB_ID: 0 is not a job id", ErrorKind::config);
    return static_cast<std::uint32_t>(v);
  }
  return parse_job_id(required(env, "SLURM_JOB_ID"));
}

bool is_het_component(const JobInputs& in) { return in.component_job_id != 0; }

JobInputs with_het_components(JobInputs in, std::span<const ComponentAllocation> components) {
  const auto mine = std::find_if(components.begin(), components.end(),
                                 [&](const ComponentAllocation& c) { return c.job_id == in.component_job_id; });
  if (mine == components.end()) {
    throw Error(fmt::format("slurmctld does not list job {} among the components of job {}", in.component_job_id,
                            in.job_id),
                ErrorKind::config);
  }
  if (mine->nodes != in.nodes || mine->cpus_per_node != in.cpus_per_node) {
    throw Error(fmt::format("slurmctld's nodes and CPUs of job {} are not slurmd's", in.component_job_id),
                ErrorKind::config);
  }
  const auto def = ClusterDef::parse(in.definition);
  std::vector<std::uint32_t> counts;
  for (const auto& g : def.groups()) counts.push_back(g.count);
  if (counts.size() != components.size()) {
    throw JobError(fmt::format("cluster {} has {} groups, so its heterogeneous job needs {} components, one per "
                               "group; it has {}",
                               in.definition, counts.size(), counts.size(), components.size()),
                   ErrorKind::config);
  }
  HetLayout het;
  try {
    het = compute_het_layout(counts, components);
  } catch (const Error& e) {
    throw JobError(e);
  }
  in.nodes = het.nodes;
  in.cpus_per_node.assign(het.nodes.size(), 0);
  for (const auto& c : components) {
    for (std::size_t i = 0; i < c.nodes.size(); ++i) {
      const auto at = std::find(het.nodes.begin(), het.nodes.end(), c.nodes[i]) - het.nodes.begin();
      in.cpus_per_node[static_cast<std::size_t>(at)] += c.cpus_per_node[i];
    }
  }
  in.het_node_of_vm = std::move(het.node_of_vm);
  return in;
}

JobInputs parse_job_inputs(const EnvLookup& env) {
  JobInputs in;
  in.job_id = job_id_from_env(env);
  if (const auto het = env("SLURM_HET_JOB_ID"); het && !het->empty()) {
    in.component_job_id = job_id_of_env(env);
  }
  in.uid = parse_unix_id("SLURM_JOB_UID", required(env, "SLURM_JOB_UID"));
  if (auto gid = env("SLURM_JOB_GID"); gid && !gid->empty()) {
    in.gid = parse_unix_id("SLURM_JOB_GID", *gid);
  }
  in.node = required(env, "SLURMD_NODENAME");
  validate_node_name("SLURMD_NODENAME", in.node);

  std::string list_var = "SLURM_JOB_NODELIST";
  auto list = env(list_var);
  if (!list || list->empty()) {
    list_var = "SLURM_NODELIST";
    list = required(env, list_var);
  }
  if (list->size() > kMaxListLength) {
    throw Error(fmt::format("{} is longer than {} characters", list_var, kMaxListLength),
                ErrorKind::config);
  }
  in.nodes = with_context(list_var, [&] { return expand_hostlist(*list); });
  for (const auto& n : in.nodes) validate_node_name(list_var, n);

  const auto cpus = required(env, "SLURM_JOB_CPUS_PER_NODE");
  if (cpus.size() > kMaxListLength) {
    throw Error("SLURM_JOB_CPUS_PER_NODE is too long", ErrorKind::config);
  }
  in.cpus_per_node =
      with_context("SLURM_JOB_CPUS_PER_NODE", [&] { return expand_counts(cpus); });
  if (in.cpus_per_node.size() != in.nodes.size()) {
    throw Error(fmt::format("SLURM_JOB_CPUS_PER_NODE names {} nodes, {} names {}",
                            in.cpus_per_node.size(), list_var, in.nodes.size()),
                ErrorKind::config);
  }

  // The one value the user chose: everything else came from slurmd.
  const auto def_text = env("SPANK_VM_TEMPLATE").value_or("");
  if (def_text.empty()) {
    throw JobError("the job has no cluster definition (SPANK_VM_TEMPLATE)", ErrorKind::config);
  }
  if (def_text.size() > kMaxDefinitionLength) {
    throw JobError(fmt::format("the cluster definition is longer than {} characters",
                               kMaxDefinitionLength),
                   ErrorKind::config);
  }
  std::size_t groups = 0;
  try {
    const auto def = ClusterDef::parse(def_text);
    in.vm_count = def.vm_count();
    in.definition = def.to_string();
    groups = def.groups().size();
  } catch (const Error& e) {
    JobError je(e);
    je.add_context("invalid cluster definition (--vm-template)");
    throw je;
  }
  // Also the user's: names only, one per group; choose_job_networks checks they exist.
  if (const auto sets = env("SPANK_VM_RESOURCES"); sets && !sets->empty()) {
    if (sets->size() > kMaxDefinitionLength) {
      throw JobError("SPANK_VM_RESOURCES is too long", ErrorKind::config);
    }
    std::size_t start = 0;
    for (;;) {
      const auto comma = sets->find(',', start);
      std::string name = sets->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      const bool ok = !name.empty() && name.size() <= 64 &&
                      std::all_of(name.begin(), name.end(), [](char c) {
                        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                               c == '-' || c == '_' || c == '.';
                      });
      if (!ok) {
        throw JobError(fmt::format("SPANK_VM_RESOURCES: \"{}\" is not a resource set name",
                                   name.substr(0, std::min<std::size_t>(name.size(), 64))),
                       ErrorKind::config);
      }
      in.resource_sets.push_back(std::move(name));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (in.resource_sets.size() != groups) {
      throw JobError(fmt::format("SPANK_VM_RESOURCES names {} resource sets for the {} groups of {}",
                                 in.resource_sets.size(), groups, in.definition),
                     ErrorKind::config);
    }
  }
  if (const auto id = env("SPANK_VM_NETWORK_ID"); id && !id->empty()) {
    try {
      in.network_id = static_cast<std::uint32_t>(parse_decimal("SPANK_VM_NETWORK_ID", *id, 0xffff));
    } catch (const Error& e) {
      throw JobError(e);
    }
  }
  return in;
}

JobNetworks single_l3_network(std::uint32_t vm_count) {
  JobNetworks nets;
  JobNet net;
  net.name = "default";
  net.kind = NetKind::l3;
  nets.networks.push_back(net);
  nets.l3 = 0;
  nets.resource_set_of_rank.assign(vm_count, "default");
  nets.nics_of_rank.assign(vm_count, std::vector<std::uint32_t>{0});
  return nets;
}

std::string gateway_port_name(std::uint32_t job_id) {
  return fmt::format("{}{:x}", kGatewayPortPrefix, job_id);
}

std::string dns_port_name(std::uint32_t job_id) { return fmt::format("{}{:x}", kDnsPortPrefix, job_id); }

NodePlan plan_node(const JobInputs& in, const AddressPlan& plan, JobNetworks nets) {
  NodePlan p;
  if (nets.nics_of_rank.size() != in.vm_count) {
    throw Error(fmt::format("plan_node: NICs for {} VMs, {} expected", nets.nics_of_rank.size(), in.vm_count),
                ErrorKind::internal);
  }
  p.nets = std::move(nets);
  p.job_id = in.job_id;
  const auto it = std::find(in.nodes.begin(), in.nodes.end(), in.node);
  if (it == in.nodes.end()) {
    throw Error(fmt::format("this node ({}) is not in the job's node list", in.node),
                ErrorKind::config);
  }
  p.node_index = static_cast<std::uint32_t>(it - in.nodes.begin());
  const bool tunnelled = std::any_of(p.nets.networks.begin(), p.nets.networks.end(),
                                     [](const JobNet& n) { return n.tunnelled(); });
  if (tunnelled && in.job_id > kMaxTunnelJobId) {
    throw JobError(fmt::format("job id {} is above {:#x}, the largest whose VMs' tunnels slurm-vm can key "
                               "(federated job ids are not supported)",
                               in.job_id, kMaxTunnelJobId),
                   ErrorKind::config);
  }
  try {
    p.network_id = network_id_for_job(in.job_id, plan);
    if (in.network_id) {
      if (*in.network_id == 0 || *in.network_id > plan.max_network_id()) {
        throw JobError(fmt::format("SPANK_VM_NETWORK_ID {} is outside this site's network ids (1-{}): the "
                                   "checkpoint comes from another site's configuration",
                                   *in.network_id, plan.max_network_id()),
                       ErrorKind::config);
      }
      p.network_id = *in.network_id;
    }
    if (in.het_node_of_vm.empty()) {
      p.layout = compute_vm_layout(in.cpus_per_node, in.vm_count);
    } else if (in.het_node_of_vm.size() == in.vm_count) {
      p.layout.node_of_vm = in.het_node_of_vm;  // with_het_components: each group on its component
    } else {
      throw Error("plan_node: a heterogeneous layout for another cluster", ErrorKind::internal);
    }
    for (std::uint32_t rank = 0; rank < in.vm_count; ++rank) {
      PlannedVm vm;
      vm.rank = rank;
      vm.node_index = p.layout.node_of_vm.at(rank);
      const VmAddress base = plan.vm(p.network_id, rank);
      vm.address = base;
      vm.address.ip = 0;
      const bool local = vm.node_index == p.node_index;
      const auto& nic_networks = p.nets.nics_of_rank.at(rank);
      for (std::uint32_t i = 0; i < nic_networks.size(); ++i) {
        const JobNet& net = p.nets.networks.at(nic_networks[i]);
        PlannedNic nic;
        nic.network = net.index;
        nic.mac = net.kind == NetKind::bridged ? bridged_mac(in.job_id, net.index, rank) : nic_mac(base.mac, net.index);
        if (local) nic.tap = tap_name(in.job_id, rank, i);
        if (net.kind == NetKind::l3) {
          nic.ip = base.ip;
          vm.tap = nic.tap;
          vm.address.mac = nic.mac;
          vm.address.ip = base.ip;
        }
        vm.nics.push_back(std::move(nic));
      }
      if (local) {
        p.local.push_back(vm);
      } else {
        p.remote.push_back(vm);
      }
      p.all.push_back(std::move(vm));
    }
    const VmAddress first = plan.vm(p.network_id, 0);
    p.gateway_ip = first.gateway;
    p.prefix = first.prefix;
    p.subnet = plan.job_subnet(p.network_id);
    p.gateway_mac = nic_mac(first.mac, p.nets.l3.value_or(0));
    p.gateway_mac[4] = static_cast<std::uint8_t>(p.gateway_mac[4] | 0x0f);
    p.gateway_mac[5] = 0xff;
    p.dns_ip = first.dns;
    p.dns_mac = p.gateway_mac;
    p.dns_mac[5] = 0xfe;
  } catch (const JobError&) {
    throw;
  } catch (const Error& e) {
    JobError je(e);
    je.add_context(fmt::format("placing {} VMs on {} nodes", in.vm_count, in.nodes.size()));
    throw je;
  }
  p.gateway_port = gateway_port_name(in.job_id);
  p.dns_port = dns_port_name(in.job_id);
  return p;
}

VmsFile vms_file(const NodePlan& plan, const std::vector<std::uint16_t>& ssh_ports) {
  const auto on_l3 = static_cast<std::size_t>(
      std::count_if(plan.local.begin(), plan.local.end(), [](const PlannedVm& vm) { return vm.on_l3(); }));
  if (!ssh_ports.empty() && ssh_ports.size() != on_l3) {
    throw Error("vms_file: one ssh port per local VM on the L3 network expected", ErrorKind::internal);
  }
  VmsFile file;
  file.network_id = plan.network_id;
  std::size_t port = 0;
  for (const auto& vm : plan.local) {
    VmsEntry e;
    e.resource_set = plan.nets.resource_set_of_rank.at(vm.rank);
    for (const auto& nic : vm.nics) {
      const JobNet& net = plan.nets.networks.at(nic.network);
      VmsNic n{net.name, net.kind, nic.tap, format_mac(nic.mac), net.tap_mtu, {}, 0, {}};
      if (net.kind == NetKind::l3) {
        n.ip = format_ipv4(nic.ip);
        n.prefix = vm.address.prefix;
        n.gateway = format_ipv4(vm.address.gateway);
      }
      e.nics.push_back(std::move(n));
    }
    if (!ssh_ports.empty() && vm.on_l3()) e.ssh_port = ssh_ports[port++];
    file.vms.emplace(vm.rank, std::move(e));
  }
  for (const auto& vm : plan.all) {
    if (vm.on_l3()) file.hosts.emplace(vm.address.hostname, format_ipv4(vm.address.ip));
  }
  return file;
}

nlohmann::json vms_json(const NodePlan& plan, const std::vector<std::uint16_t>& ssh_ports) {
  return to_json(vms_file(plan, ssh_ports));
}

}  // namespace slurmvm::netsetup
