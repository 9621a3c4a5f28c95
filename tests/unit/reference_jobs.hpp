// The reference jobs of the golden tests: job 4242, VMs master:1,compute:2 on nodeA (2 CPUs)
// and nodeB (1 CPU), seen from nodeA, which runs vm0 and vm1 (vm2 runs on nodeB, underlay
// 10.99.0.2), with the repository's example configuration (templates/); job 4243 the same
// cluster with the `cluster` resource set for the master and `cluster-lan` (a bridged NIC
// added) for the computes; job 4244 the same cluster with passthrough devices: the master on
// `cluster-ib` (an InfiniBand VF in the job's partition and a GPU), the computes on
// `cluster-hostib` (a VF on the host's partitions).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "cluster_def.hpp"
#include "config/config.hpp"
#include "netsetup/job_networks.hpp"
#include "netsetup/node_plan.hpp"

namespace slurmvm::test {

using netsetup::JobInputs;
using netsetup::NodePlan;

inline JobInputs job_on_node_a(const std::string& job, const std::optional<std::string>& resources) {
  std::map<std::string, std::string> env = {
      {"SLURM_JOB_ID", job},       {"SLURM_JOB_UID", "1000"},
      {"SLURM_JOB_GID", "1000"},      {"SLURMD_NODENAME", "nodeA"},
      {"SLURM_JOB_NODELIST", "nodeA,nodeB"}, {"SLURM_JOB_CPUS_PER_NODE", "2,1"},
      {"SPANK_VM_TEMPLATE", "master:1,compute:2"}};
  if (resources) env["SPANK_VM_RESOURCES"] = *resources;
  return netsetup::parse_job_inputs([env](const std::string& name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
}

inline config::Config example_config() {
  auto cfg = config::load_config(config::ConfigDirs{std::filesystem::path(SLURM_VM_TEST_DATA) / "../../templates",
                                                    std::nullopt});
  config::Network lan{"lan", {}, 0, config::BridgedNetwork{"br-lan", "", 1500, {{12, config::VlanMode::native}}}};
  cfg.networks.emplace("lan", lan);
  cfg.resource_sets.emplace("cluster-lan", config::ResourceSet{"cluster-lan", {"nat-rssh", "private", "lan"}, false, {}, 0});
  // Job 4244's passthrough networks: an InfiniBand partition per job, the host's partitions,
  // GPUs (a whole slot with its audio function, and a single function).
  cfg.networks.emplace("ib", config::Network{"ib", {}, 0,
                                             config::InfinibandNetwork{"mlx5_0", 0x2000, 0x2fff, "/run/opensm.pid",
                                                                       "/etc/opensm/partitions.conf",
                                                                       "/etc/opensm/partitions.tpl", std::nullopt}});
  cfg.networks.emplace("hostib", config::Network{"hostib", {}, 0, config::HostInfinibandNetwork{"mlx5_0"}});
  config::GenericPciNetwork gpu;
  gpu.host_device_addrs = {*config::parse_pci_address("0000:af:00"), *config::parse_pci_address("0000:b0:00.0")};
  gpu.host_driver = "nvidia";
  cfg.networks.emplace("gpu", config::Network{"gpu", {}, 0, gpu});
  cfg.resource_sets.emplace("cluster-ib", config::ResourceSet{"cluster-ib", {"nat-rssh", "ib", "gpu"}, false, {}, 0});
  cfg.resource_sets.emplace("cluster-hostib", config::ResourceSet{"cluster-hostib", {"nat-rssh", "hostib"}, false, {}, 0});
  return cfg;
}

// As vm-prolog plans: with the job's address plan (int-network of its L3 network).
inline NodePlan plan_for(const JobInputs& in) {
  auto nets = netsetup::choose_job_networks(example_config(), ClusterDef::parse(in.definition), in.resource_sets);
  const auto plan = nets.address_plan();
  return netsetup::plan_node(in, plan, std::move(nets));
}

inline NodePlan job_4242() { return plan_for(job_on_node_a("4242", std::nullopt)); }
inline NodePlan job_4244() { return plan_for(job_on_node_a("4244", "cluster-ib,cluster-hostib")); }
inline NodePlan job_4243() { return plan_for(job_on_node_a("4243", "cluster,cluster-lan")); }

inline const std::map<std::string, std::uint32_t> kNodeIps = {{"nodeB", 0x0a630002}};  // 10.99.0.2

}  // namespace slurmvm::test
