// The cluster definition a job asks for: where it comes from (the option, else the
// environment) and whether the configuration knows every template in it. Pure logic, no
// Slurm calls: the contexts feed it what Slurm gave them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cluster_def.hpp"
#include "config/dirs.hpp"
#include "plugin_args.hpp"

namespace slurmvm::spank {

// The user's fallback when the option is not given, and what the job's tasks see (vm-launch).
inline constexpr const char* kEnvVar = "SLURM_VM_TEMPLATE";
// Handed to Prolog=/Epilog= through spank_job_control_setenv, which prefixes SPANK_.
inline constexpr const char* kJobControlVar = "VM_TEMPLATE";

struct DefinitionRequest {
  std::string text;
  std::string_view source;  // "--vm-template" or "SLURM_VM_TEMPLATE": named in every error
};

// --vm-template when given, even empty (an empty definition is an error the user must see);
// else SLURM_VM_TEMPLATE when set and non-empty (an empty variable counts as unset, as for
// SLURM_VM_SYSCONFDIR); else nothing: the job is not a virtual cluster.
std::optional<DefinitionRequest> requested_definition(const std::optional<std::string>& option,
                                                      const std::optional<std::string>& env);

// The configuration the submitting user's `vm` command reads (SLURM_VM_SYSCONFDIR,
// SLURM_VM_USERCONFDIR, XDG_CONFIG_HOME, HOME), so that `vm template list` and the check agree;
// the plugstack's sysconfdir= replaces the build's default when SLURM_VM_SYSCONFDIR is unset.
config::ConfigDirs submission_config_dirs(const config::EnvLookup& env, const PluginArgs& args);

// Handed to Prolog=/Epilog= as SPANK_VM_RESOURCES: the resource set of each group's template,
// comma-separated, in the definition's order. The prolog cannot read the user's templates
// (docs/design.md §5); the names it gets are checked against the system's resources.yaml.
inline constexpr const char* kResourcesJobControlVar = "VM_RESOURCES";

// Handed to Prolog=/Epilog= as SPANK_VM_NETWORK_ID from the submitter's SLURM_VM_NETWORK_ID
// (checkpoint.hpp): a restored cluster's network identity.
inline constexpr const char* kNetworkIdJobControlVar = "VM_NETWORK_ID";

struct CheckedDefinition {
  ClusterDef def;
  std::string resource_sets;  // "default,cluster"
};

// Parses the definition, then loads the configuration and checks that every template exists.
// Throws Error(config or not_found) whose message starts with the request's source.
CheckedDefinition check_definition(const DefinitionRequest& request, const config::ConfigDirs& dirs);

// Parses only, for contexts that must not read the user's files (slurmstepd runs as root).
ClusterDef parse_definition(const DefinitionRequest& request);

}  // namespace slurmvm::spank
