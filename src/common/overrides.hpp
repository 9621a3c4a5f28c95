// Command-line overrides of a cluster's templates, pcocc's `vm alloc|batch` options:
//   --image [TPL=]IMAGE        the image of template TPL only (TPL= may be left out when the
//                              cluster has one template); templates inheriting from TPL keep
//                              theirs (pcocc changed the shared template object: §6 item 20)
//   --mount TAG=PATH[,type=virtio-9p][,readonly=true|false]
//                              a mount-point for every VM, replacing the template's of that tag
//   --user-data FILE           the cloud-init user-data of every VM
// The CLI checks them before Slurm queues anything and applies them, as JSON built by the
// encoder, to the cluster's templates once (resolved_cluster.hpp).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster_def.hpp"
#include "config/template.hpp"

namespace slurmvm {

// Throws Error(usage) naming the option and what is wrong: a TPL the definition does not use,
// no TPL with several templates, a mount without TAG=PATH or with an unknown setting, a
// relative user-data path. Returns {} when nothing is overridden.
nlohmann::json parse_overrides(const ClusterDef& def, const std::vector<std::string>& images,
                               const std::vector<std::string>& mounts, const std::string& user_data);

// Applies what concerns template `t` (by name). Throws Error(config) for a malformed value.
void apply_overrides(config::Template& t, const nlohmann::json& overrides);

}  // namespace slurmvm
