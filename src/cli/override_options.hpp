// The template overrides `vm alloc`, `vm batch` and `vm boot` take (overrides.hpp): declared
// once, checked against the definition before Slurm is asked, and applied to the cluster's
// templates once (resolved_cluster.hpp).
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "cluster_def.hpp"
#include "overrides.hpp"

namespace slurmvm::cli {

struct OverrideOptions {
  std::vector<std::string> images;
  std::vector<std::string> mounts;
  std::string user_data;

  void declare(CLI::App* cmd) {
    cmd->add_option("--image", images, "[TPL=]IMAGE: the image of template TPL only (repeatable)");
    cmd->add_option("--mount", mounts, "TAG=PATH[,type=virtio-9p][,readonly=true]: a mount-point for every VM (repeatable)");
    cmd->add_option("--user-data", user_data, "FILE: the cloud-init user-data of every VM")->check(CLI::ExistingFile);
  }

  // The checked overrides; user-data made absolute (the VMs' nodes read it).
  nlohmann::json parse(const ClusterDef& def) {
    if (!user_data.empty()) user_data = std::filesystem::absolute(user_data).lexically_normal().string();
    return parse_overrides(def, images, mounts, user_data);
  }
};

}  // namespace slurmvm::cli
