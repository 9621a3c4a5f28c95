// Where vm boot puts each VM (boot_layout.hpp).
#include "boot_layout.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "error.hpp"
#include "slurm_lists.hpp"
#include "vm_layout.hpp"

namespace slurmvm::cli {
namespace {

std::string required(const config::EnvLookup& env, const std::string& name) {
  const auto v = env(name);
  if (!v || v->empty()) {
    throw Error(fmt::format("{} is not set: run vm boot inside the job's allocation (vm alloc and vm batch do)", name),
                ErrorKind::usage);
  }
  return *v;
}

ComponentAllocation allocation(const config::EnvLookup& env, const std::string& suffix) {
  ComponentAllocation a;
  a.nodes = expand_hostlist(required(env, "SLURM_JOB_NODELIST" + suffix));
  a.cpus_per_node = expand_counts(required(env, "SLURM_JOB_CPUS_PER_NODE" + suffix));
  if (a.cpus_per_node.size() != a.nodes.size()) {
    throw Error(fmt::format("SLURM_JOB_CPUS_PER_NODE{} lists {} nodes, SLURM_JOB_NODELIST{} {}", suffix,
                            a.cpus_per_node.size(), suffix, a.nodes.size()),
                ErrorKind::system);
  }
  return a;
}

}  // namespace

BootLayout boot_layout(const ClusterDef& def, const config::EnvLookup& env) {
  BootLayout out;
  const auto het_size = env("SLURM_HET_SIZE");
  if (!het_size || het_size->empty()) {
    std::uint32_t asked = 1;  // the allocation's -c, when given
    if (const auto c = env("SLURM_CPUS_PER_TASK"); c && !c->empty()) {
      const auto counts = expand_counts(*c);
      if (counts.size() == 1) asked = counts.front();
    }
    if (def.sized(asked)) {
      throw Error(fmt::format("{} sizes its VMs (c=), which takes a heterogeneous job, one component per group: "
                              "submit it with vm alloc or vm batch",
                              def.to_string()),
                  ErrorKind::usage);
    }
    const ComponentAllocation a = allocation(env, "");
    const VmLayout l = compute_vm_layout(a.cpus_per_node, def.vm_count());
    out.nodes = a.nodes;
    out.node_of_vm = l.node_of_vm;
    out.cpus_of_vm.assign(def.vm_count(), l.cpus_per_vm);
    out.components.push_back({def.vm_count(), l.cpus_per_vm, {}});
    return out;
  }
  const auto groups = def.groups().size();
  if (*het_size != std::to_string(groups)) {
    throw Error(fmt::format("this heterogeneous allocation has {} components, but {} has {} groups: one component "
                            "per group, in order",
                            *het_size, def.to_string(), groups),
                ErrorKind::usage);
  }
  std::vector<ComponentAllocation> comps;
  std::vector<std::uint32_t> counts;
  for (std::size_t g = 0; g < groups; ++g) {
    const std::string suffix = fmt::format("_HET_GROUP_{}", g);
    comps.push_back(allocation(env, suffix));
    counts.push_back(def.groups()[g].count);
    for (const auto& n : comps.back().nodes) out.node_components.emplace(n, static_cast<std::uint32_t>(g));
  }
  const HetLayout het = compute_het_layout(counts, comps);
  out.heterogeneous = true;
  out.nodes = het.nodes;
  out.node_of_vm = het.node_of_vm;
  out.cpus_of_vm = het.cpus_of_vm;
  for (std::size_t g = 0; g < groups; ++g) {
    StepComponent c{counts[g], het.components[g].cpus_per_vm, {}};
    for (const auto n : het.components[g].node_of_vm) c.task_nodes.push_back(comps[g].nodes.at(n));
    out.components.push_back(std::move(c));
  }
  return out;
}

std::string boot_hostfile(const BootLayout& layout) {
  std::string out;
  for (const auto n : layout.node_of_vm) out += layout.nodes.at(n) + "\n";
  return out;
}

std::vector<std::string> vms_step_argv(const BootLayout& layout, const std::vector<std::string>& common,
                                       const std::vector<std::string>& command) {
  std::vector<std::string> argv;
  for (std::size_t k = 0; k < layout.components.size(); ++k) {
    const StepComponent& c = layout.components[k];
    if (k > 0) argv.push_back(":");
    argv.insert(argv.end(), common.begin(), common.end());
    argv.push_back(fmt::format("--ntasks={}", c.ntasks));
    argv.push_back(fmt::format("--cpus-per-task={}", c.cpus_per_task));
    // Task N on the node the layout chose: the prolog built its TAP there.
    argv.push_back("--distribution=arbitrary");
    if (layout.heterogeneous) argv.push_back(fmt::format("--nodelist={}", fmt::join(c.task_nodes, ",")));
    argv.insert(argv.end(), command.begin(), command.end());
  }
  return argv;
}

std::string cpus_per_vm_env(const BootLayout& layout) { return fmt::format("{}", fmt::join(layout.cpus_of_vm, ",")); }

}  // namespace slurmvm::cli
