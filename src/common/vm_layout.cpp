#include "vm_layout.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "error.hpp"

namespace slurmvm {
namespace {

std::uint64_t capacity(std::span<const std::uint32_t> cpus_per_node, std::uint32_t cpus_per_vm) {
  std::uint64_t total = 0;
  for (std::uint32_t cpus : cpus_per_node) total += cpus / cpus_per_vm;
  return total;
}

}  // namespace

std::vector<std::uint32_t> VmLayout::vms_on(std::uint32_t node_index) const {
  std::vector<std::uint32_t> ranks;
  for (std::uint32_t r = 0; r < node_of_vm.size(); ++r) {
    if (node_of_vm[r] == node_index) ranks.push_back(r);
  }
  return ranks;
}

VmLayout compute_vm_layout(std::span<const std::uint32_t> cpus_per_node, std::uint32_t vm_count) {
  if (vm_count == 0) throw Error("a virtual cluster needs at least one VM", ErrorKind::config);
  if (capacity(cpus_per_node, 1) < vm_count) {
    std::uint64_t total = 0;
    for (std::uint32_t c : cpus_per_node) total += c;
    throw Error(fmt::format("the job has {} CPUs on {} nodes, too few for {} VMs (one CPU each at least)",
                            total, cpus_per_node.size(), vm_count),
                ErrorKind::config);
  }
  // Capacity only shrinks as c grows, so the largest fitting c is found by a linear scan from
  // the largest node down (at most a few hundred steps).
  const std::uint32_t max_cpus = *std::max_element(cpus_per_node.begin(), cpus_per_node.end());
  VmLayout layout;
  for (std::uint32_t c = max_cpus; c >= 1; --c) {
    if (capacity(cpus_per_node, c) >= vm_count) {
      layout.cpus_per_vm = c;
      break;
    }
  }
  layout.node_of_vm.reserve(vm_count);
  for (std::uint32_t node = 0; node < cpus_per_node.size() && layout.node_of_vm.size() < vm_count; ++node) {
    const std::uint32_t fits = cpus_per_node[node] / layout.cpus_per_vm;
    for (std::uint32_t k = 0; k < fits && layout.node_of_vm.size() < vm_count; ++k) {
      layout.node_of_vm.push_back(node);
    }
  }
  return layout;
}

HetLayout compute_het_layout(std::span<const std::uint32_t> group_counts,
                             std::span<const ComponentAllocation> components) {
  if (group_counts.size() != components.size()) {
    throw Error(fmt::format("the cluster has {} groups but its heterogeneous job {} components: one per group",
                            group_counts.size(), components.size()),
                ErrorKind::config);
  }
  HetLayout out;
  for (std::size_t k = 0; k < components.size(); ++k) {
    const ComponentAllocation& c = components[k];
    if (c.nodes.size() != c.cpus_per_node.size()) {
      throw Error(fmt::format("component {}: {} nodes but CPUs for {}", k, c.nodes.size(), c.cpus_per_node.size()),
                  ErrorKind::config);
    }
    VmLayout layout;
    try {
      layout = compute_vm_layout(c.cpus_per_node, group_counts[k]);
    } catch (Error& e) {
      e.add_context(fmt::format("component {} of the heterogeneous job (group {} of the cluster)", k, k + 1));
      throw;
    }
    std::vector<std::uint32_t> index_of;  // component node -> job node
    for (const std::string& name : c.nodes) {
      auto it = std::find(out.nodes.begin(), out.nodes.end(), name);
      if (it == out.nodes.end()) it = out.nodes.insert(out.nodes.end(), name);
      index_of.push_back(static_cast<std::uint32_t>(it - out.nodes.begin()));
    }
    for (const std::uint32_t node : layout.node_of_vm) {
      out.node_of_vm.push_back(index_of[node]);
      out.cpus_of_vm.push_back(layout.cpus_per_vm);
    }
    out.components.push_back(std::move(layout));
  }
  return out;
}

}  // namespace slurmvm
