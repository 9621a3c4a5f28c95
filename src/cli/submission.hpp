// What `vm alloc` and `vm batch` share: the cluster definition at the end of the arguments
// they pass through to Slurm, checked (syntax, templates, overrides) before Slurm queues
// anything, and the salloc/sbatch options that make one Slurm task per VM.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cluster_def.hpp"
#include "config/config.hpp"
#include "override_options.hpp"
#include "resolved_cluster.hpp"

namespace slurmvm::cli {

struct Submission {
  ClusterDef def;
  config::Config cfg;
  // The cluster's templates with the overrides applied, resolved once here for every VM
  // (resolved_cluster.hpp); handed to `vm boot` as resolved_env().
  ResolvedCluster resolved;
  std::vector<std::string> slurm_args;  // the user's salloc/sbatch options, DEF removed
  // Every template of DEF is full-node: one VM per node, with all of the node's CPUs and memory.
  bool full_node = false;
};

// `extras`: what CLI11 left (Slurm's options, DEF last). `example` completes the message for a
// missing DEF. Throws Error(usage/config/not_found).
Submission read_submission(std::vector<std::string> extras, std::string_view example, OverrideOptions& overrides);

// The Slurm licenses the cluster's networks ask for (an infiniband network's `license`, pcocc's
// key: one per job using the network), each once, in the order of first use.
std::vector<std::string> network_licenses(const config::Config& cfg, const ResolvedCluster& resolved);

// `argv` with every --licenses/-L in it merged, each license once, with `licenses` into one
// --licenses=... at the end; unchanged without `licenses`.
std::vector<std::string> merge_licenses(std::vector<std::string> argv, const std::vector<std::string>& licenses);

// `vm alloc -r DIR`, `vm batch -r DIR`: the checkpointed cluster (checkpoint.hpp) as it was
// resolved when it ran (templates edited since change none of its VMs), the CPUs per VM it had
// (-c, unless given: it must match), and its network identity. DEF may be left out; given, it
// must be the checkpoint's. Overrides are refused: the VMs' devices must be those saved.
struct RestoreSubmission {
  Submission sub;
  std::filesystem::path dir;  // absolute
  unsigned cpus = 0;
  std::uint32_t network_id = 0;
};
RestoreSubmission read_restore_submission(std::vector<std::string> extras, const std::string& dir, unsigned cpus,
                                          const OverrideOptions& overrides);

// The environment a restore is submitted with: the SPANK plugin hands the network identity to
// the prolog (SLURM_VM_NETWORK_ID), and the templates go to vm boot as for any submission.
// Without a restore, the variable is removed: one left in a restored cluster's shell must not
// reach the next submission.
void export_restore_env(const std::optional<RestoreSubmission>& r);

// "SLURM_VM_RESOLVED=<json>" for `vm boot`. Error(config) when it does not fit in an environment
// string (inline user-data of many kilobytes: put it in a file).
std::string resolved_env(const ResolvedCluster& resolved);

// PROGRAM --ntasks=N [--cpus-per-task=C] [--nodes=NODES] --vm-template=DEF [flags] then the
// site's batch-args and the user's own options. With licenses from the networks, every
// --licenses/-L given is merged into one last --licenses=... (Slurm keeps only the last). Full-node templates: --nodes=N
// --ntasks-per-node=1 --exclusive --mem=0 instead of -c (whose use is then an error), and the
// VMs' step gives each VM every CPU of its node (vm_layout.hpp).
// Several sizes (c=, cluster_def.hpp): a heterogeneous job, `PROGRAM --ntasks=N0
// --cpus-per-task=C0 --vm-template=DEF [flags] SITE USER : --ntasks=N1 --cpus-per-task=C1 SITE
// USER ...`, one component per group; -N and full-node templates are then refused.
std::vector<std::string> slurm_argv(const std::string& program, const Submission& s, unsigned cpus,
                                    const std::string& nodes, const std::vector<std::string>& flags = {});

}  // namespace slurmvm::cli
