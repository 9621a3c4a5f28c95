// What vm-launch gathers for one VM before QEMU starts, each step a function of its own: the
// cluster's resolved templates (resolved_cluster.hpp), the template's settings it can honour,
// the prolog's verdict on the job, the persistent drives, the disk overlay and the cloud-init
// seed. launcher.cpp calls them in order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster_def.hpp"
#include "config/config.hpp"
#include "launch/network_map.hpp"
#include "launch/qemu_argv.hpp"
#include "launch/seed.hpp"
#include "launch/ssh_keys.hpp"
#include "launch/job_dir.hpp"
#include "launch/task_env.hpp"
#include "launch/vm_substitutions.hpp"
#include "node_layout.hpp"
#include "resolved_cluster.hpp"
#include "unique_fd.hpp"

namespace slurmvm::launch {

// The cluster as `vm boot` resolved it for every VM (<job dir>/templates.json). A vm-launch
// started without vm boot (by hand, a test) resolves it from the configuration files itself.
// Error(config) when the file describes another cluster.
ResolvedCluster resolved_cluster(const ClusterDef& def, const TaskEnv& task);

// Refuses the template settings vm-launch cannot honour where that would lose data (virtio-fs
// mounts); warns about the others.
void check_supported(const config::Template& t);

// The prolog's error file of a job it refused (node_layout.hpp), as an Error(config) naming it.
void report_prolog_error(const RunDirLayout& run, std::uint32_t job_id);

// The template's persistent drives, checked as the user on the VM's node; `locks` gets the
// lock files of mmp: cluster drives.
std::vector<DriveSpec> persistent_drives(const config::Template& t, const VmSubstitutions& subst, const TaskEnv& task,
                                         std::vector<std::filesystem::path>& locks);

// Where the VM's disk overlay is made: $PCOCC_TMPDIR when absolute (pcocc's variable, the
// user's choice), else the site's node-scratch expanded for the user, else the VM's directory.
// Created (0700) when missing.
std::filesystem::path overlay_dir(const std::optional<std::string>& pcocc_tmpdir,
                                  const std::optional<std::string>& node_scratch, const VmSubstitutions& subst,
                                  const VmPaths& paths);

// The VM's disk overlay, open twice (QEMU's fd set needs the file in both access modes) and
// already unlinked: QEMU reads it as /dev/fdset/1 (kDiskFdSet), so nothing of it outlives the
// VM on any disk, whatever ends it.
struct OpenDisk {
  UniqueFd read_write;
  UniqueFd read_only;
};

// A restored VM's disk (restore.hpp): the checkpoint's layer, and the image it sits on.
struct RestoredLayer {
  std::filesystem::path layer;
  std::filesystem::path checkpoint;
  nlohmann::json image;  // the checkpointed VM's vm.json "image"
};

// The disk overlay over the template's image (a file, or a repository revision: the newest
// unless the template names one), or over `restored`'s layer, made in `dir`; the image is
// recorded in `image_record` for vm.json. nullopt without image.
std::optional<OpenDisk> prepare_disk(const config::Template& t, const config::RepoConfig& repo_config,
                                     const VmSubstitutions& subst, const VmPaths& paths,
                                     const std::filesystem::path& dir, nlohmann::json& image_record,
                                     const RestoredLayer* restored = nullptr);

// The cloud-init seed ISO; returns the VM's host key.
HostKey prepare_seed(const config::Template& t, const TaskEnv& task, const VmSubstitutions& subst,
                     const VmPaths& paths, const std::string& hostname, const std::optional<VmNetwork>& network,
                     const std::vector<SeedMount>& mounts);

}  // namespace slurmvm::launch
