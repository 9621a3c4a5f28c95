// A virtual cluster's templates, resolved once: each template its definition names, with
// inheritance and defaults applied (templates_loader.hpp) and the command line's overrides
// (overrides.hpp), plus the image repositories its images are found in. `vm alloc` and `vm
// batch` resolve it when they submit and hand it to `vm boot` (SLURM_VM_RESOLVED); `vm boot`
// writes it into the job directory (templates.json), and every vm-launch of the cluster reads
// that one file and no YAML: a template edited while the job waits or runs changes none of its
// VMs. docs/design.md, "who reads what".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster_def.hpp"
#include "config/config.hpp"

namespace slurmvm {

// `vm alloc`/`vm batch` -> `vm boot`: the resolved cluster as compact JSON.
inline constexpr const char* kResolvedClusterEnv = "SLURM_VM_RESOLVED";
// `vm boot` -> vm-launch: the file in the user's job directory.
inline constexpr const char* kResolvedClusterFile = "templates.json";
// An environment string is at most 128 KiB (MAX_ARG_STRLEN); leave room for the rest.
inline constexpr std::size_t kMaxResolvedClusterBytes = 96 * 1024;

struct ResolvedCluster {
  std::string definition;                   // canonical ("tiny:2")
  std::vector<config::Template> templates;  // each template of the definition once, in its order
  config::RepoConfig repos;
  std::optional<std::string> node_scratch;  // the site's node-scratch, unexpanded

  // The template of that name; Error(config) when the cluster has none (a tampered file).
  const config::Template& get(std::string_view name) const;
};

// Resolves `def` against `cfg` (a user template shadows a system one) and applies `overrides`
// (overrides.hpp; {} for none). Throws Error(not_found) for a template `cfg` does not have.
ResolvedCluster resolve_cluster(const ClusterDef& def, const config::Config& cfg, const nlohmann::json& overrides);

nlohmann::json to_json(const ResolvedCluster& cluster);
// The inverse of to_json. Throws Error(config) naming `source` and what is wrong.
ResolvedCluster parse_resolved_cluster(std::string_view text, std::string_view source);

}  // namespace slurmvm
